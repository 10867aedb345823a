package history

import (
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
)

// How an MRN was linked to a resident ID.
const (
	LinkImport = "import" // a CSV row or a FHIR Patient that carries both
	LinkFile   = "file"   // the institution's link file (mrn,resident_id)
	LinkCard   = "card"   // the patient bound the hospital card
	LinkAdmin  = "admin"  // the institution's admin corrected a wrong link
)

// MRN is a patient of an institution known by its medical record number
// (病案号): the person as the hospital's record gives them, and the Yunyi
// patient it is linked to, by resident ID (one resident ID is one
// patient, N-5; a link made before the patient registers counts from
// their registration).
type MRN struct {
	Institution   string
	MRN           string
	Name          string
	BirthDate     string // YYYY-MM-DD, "" when unknown
	Sex           string // male | female | ... as the file gives it, "" when unknown
	ResidentID    string // "" : not linked
	LinkedBy      string // LinkImport | LinkFile | LinkCard
	LinkedAccount int64
	LinkedAt      time.Time
}

// Link asks for an MRN to be linked to a resident ID.
type Link struct {
	Institution, MRN, ResidentID string
	// BirthDate is the resident ID's birth date (YYYY-MM-DD): a record
	// that gives another birth date is not linked.
	BirthDate string
	By        string
	Account   int64 // who linked it (0: an import)
	At        time.Time
}

// LinkResult is what became of a Link.
type LinkResult string

const (
	Linked        LinkResult = "linked"         // linked now
	AlreadyLinked LinkResult = "already"        // it was, to the same resident ID
	LinkConflict  LinkResult = "conflict"       // linked to another resident ID: left as it is
	LinkBirth     LinkResult = "birth_mismatch" // the record gives another birth date
)

// MRNStore keeps an institution's MRNs and their links.
type MRNStore interface {
	// LinkMRNs links each MRN to its resident ID, unless it is linked
	// already or its record gives another birth date, with one
	// conditional write each (a link is never changed once made); an MRN
	// without a record gets one, linked (a link file may come before the
	// history). Results are in the links' order.
	LinkMRNs(ctx context.Context, links []Link) ([]LinkResult, error)
	// MRN is an institution's record of an MRN (errs.NotFound).
	MRN(ctx context.Context, institution, mrn string) (*MRN, error)
	// MRNsLinkedTo lists the MRNs linked to any of the resident IDs.
	MRNsLinkedTo(ctx context.Context, residentIDs []string) ([]MRN, error)
	// MRNs lists an institution's MRNs, linked or not as asked, by MRN,
	// each with the visits kept under it, and how many there are in all.
	MRNs(ctx context.Context, q MRNQuery) ([]MRNSummary, int, error)
	// RelinkMRN corrects an MRN's link, or removes it (ResidentID ""),
	// whoever made it; the MRN's visits count for the new patient only
	// from then on. It answers the resident ID it was linked to before
	// (""), errs.NotFound without a record, and the field resident_id
	// birth_mismatch when the record gives another birth date.
	RelinkMRN(ctx context.Context, r Relink) (previous string, err error)
}

// MRNQuery selects an institution's MRNs, a page of them.
type MRNQuery struct {
	Institution   string
	Linked        bool // the linked ones, else those not linked
	Limit, Offset int
}

// MRNSummary is an MRN with the visits kept under it.
type MRNSummary struct {
	MRN
	Visits    int    // visits imported under the MRN (with a resident ID or not)
	LastVisit string // the latest one's day, "" without any
}

// Relink is an institution admin's correction of an MRN's link.
type Relink struct {
	Institution, MRN string
	ResidentID       string // "" : unlink
	BirthDate        string // the resident ID's (YYYY-MM-DD)
	Account          int64
	At               time.Time
}

// MaxMRN is the longest MRN taken.
const MaxMRN = 64

// NormMRN writes an MRN as Yunyi keeps it: without surrounding spaces, in
// upper case (a patient typing the number on their card, or another system
// writing a UUID in lower case, finds the same record).
func NormMRN(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

// ValidMRN says whether a (normalised) MRN is one: 1 to MaxMRN letters,
// digits and - _ . / (hospitals' numbers, Synthea's UUIDs).
func ValidMRN(s string) bool {
	if s == "" || len(s) > MaxMRN {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./", r)) {
			return false
		}
	}
	return true
}

// nameWords are the words of a name: runs of letters, lower case; digits,
// spaces, the middle dot (·) and punctuation separate them (Synthea writes
// digits after its names; a Yunyi name has letters, spaces and · only).
func nameWords(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) })
}

// SameName says whether two writings of a name are the same person's: the
// same letters (case aside), whether they are written in one word or
// several and in either order of family and given names ("李小雨" and
// "李 小雨"; "Clemente Kreiger" and "Kreiger Clemente").
func SameName(a, b string) bool {
	wa, wb := nameWords(a), nameWords(b)
	if len(wa) == 0 || len(wb) == 0 {
		return false
	}
	if strings.Join(wa, "") == strings.Join(wb, "") {
		return true
	}
	slices.Sort(wa)
	slices.Sort(wb)
	return slices.Equal(wa, wb)
}

// CardHolder says whether a Yunyi patient is the person of an MRN's
// record, for the patient to bind the hospital card: the record has a name
// and a birth date, the names are the same (SameName), the birth dates the
// same day and, when the record gives a sex, the same sex. Knowing a card's
// number alone is not enough.
func (m *MRN) CardHolder(name string, birth time.Time, sex string) bool {
	if m.Name == "" || m.BirthDate == "" {
		return false
	}
	if birth.In(dates.Beijing).Format(dates.Layout) != m.BirthDate {
		return false
	}
	if (m.Sex == "male" || m.Sex == "female") && sex != "" && sex != m.Sex {
		return false
	}
	return SameName(m.Name, name)
}

// LinkHeader is the header of an institution's link file.
var LinkHeader = []string{"mrn", "resident_id"}

// LinkReport is the outcome of a link file.
type LinkReport struct {
	Total   int `json:"total"`   // rows after the header
	Linked  int `json:"linked"`  // linked now
	Already int `json:"already"` // linked before, to the same resident ID
	Failed  int `json:"failed"`
	// Problems lists the first MaxProblems rows not linked, with their
	// line; ProblemsOmitted counts the others.
	Problems        []Problem `json:"problems"`
	ProblemsOmitted int       `json:"problems_omitted"`
}

// Localize writes every problem's reason in lang.
func (r *LinkReport) Localize(lang i18n.Lang) {
	for i := range r.Problems {
		r.Problems[i].Localize(lang)
	}
}

// linkBatch is how many rows of a link file are linked in one call.
const linkBatch = 1000

// Links reads an institution's link file (CSV with LinkHeader) as a
// stream and links each MRN to its resident ID, linkBatch rows a call:
// a row with an invalid MRN or resident ID, an MRN linked to another
// resident ID, or one whose record gives another birth date than the
// resident ID is a problem with its line. by is the account that sent
// the file. A wrong header or a row longer than MaxRecord is a
// *FileError; an error of r is returned as it is. What was linked before
// an error stays.
func (im *Importer) Links(ctx context.Context, r io.Reader, by int64, rep *LinkReport) error {
	maxP := im.MaxProblems
	if maxP <= 0 {
		maxP = MaxProblems
	}
	if rep.Problems == nil {
		rep.Problems = []Problem{}
	}
	problem := func(p Problem) {
		rep.Failed++
		if len(rep.Problems) < maxP {
			p.Localize(i18n.EN)
			rep.Problems = append(rep.Problems, p)
		} else {
			rep.ProblemsOmitted++
		}
	}
	var links []Link
	var where []Problem // index and line of each link
	from := 0           // the batch's first problem
	flush := func() error {
		// The rows' problems and the links' in file order.
		defer func() {
			slices.SortStableFunc(rep.Problems[from:], func(a, b Problem) int { return a.Index - b.Index })
			from = len(rep.Problems)
		}()
		if len(links) == 0 {
			return ctx.Err()
		}
		res, err := im.Store.LinkMRNs(ctx, links)
		if err != nil {
			return err
		}
		for i, r := range res {
			switch r {
			case Linked:
				rep.Linked++
			case AlreadyLinked:
				rep.Already++
			case LinkConflict:
				p := where[i]
				p.Details = []Detail{{Code: "mrn_link_conflict", Args: []string{shown(links[i].MRN)}}}
				problem(p)
			case LinkBirth:
				p := where[i]
				p.Details = []Detail{{Code: "mrn_link_birth", Args: []string{shown(links[i].MRN)}}}
				problem(p)
			}
		}
		links, where = links[:0], where[:0]
		return ctx.Err()
	}
	bad := func(p Problem) {
		rep.Total++
		problem(p)
	}
	err := ReadCSV(r, [][]string{LinkHeader}, im.Begin, bad, func(rec []string, row, line int) error {
		rep.Total++
		mrn, ridText := NormMRN(rec[0]), strings.ToUpper(strings.TrimSpace(rec[1]))
		var ds []Detail
		if !ValidMRN(mrn) {
			if mrn == "" {
				ds = append(ds, Detail{Code: "no_mrn"})
			} else {
				ds = append(ds, Detail{Code: "mrn", Args: []string{shown(mrn), strconv.Itoa(MaxMRN)}})
			}
		}
		rid, ridErr := identity.ParseResidentID(ridText, im.Now)
		if ridErr != nil {
			ds = append(ds, residentIDDetail(ridText, ridErr))
		}
		if len(ds) > 0 {
			problem(Problem{Index: row, Line: line, Details: ds})
			return nil
		}
		links = append(links, Link{Institution: im.Institution, MRN: mrn, ResidentID: rid.Number, BirthDate: rid.Birth.Format(dates.Layout),
			By: LinkFile, Account: by, At: im.Now})
		where = append(where, Problem{Index: row, Line: line})
		if len(links) == linkBatch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// residentIDDetail is the detail of a resident ID that is missing or
// not valid.
func residentIDDetail(text string, err error) Detail {
	if text == "" {
		return Detail{Code: "no_resident_id"}
	}
	code := "resident_id_format"
	var e *errs.Error
	if errors.As(err, &e) && len(e.Fields) > 0 && e.Fields[0].Code != "required" {
		code = e.Fields[0].Code
	}
	return Detail{Code: "resident_id", Refs: []string{"field." + code}}
}
