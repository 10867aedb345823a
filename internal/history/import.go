package history

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/visit"
)

const (
	// DefaultBatch is how many good visits are written in one transaction.
	DefaultBatch = 5000
	// MaxProblems is how many problems a report lists; the others are
	// counted (Report.ProblemsOmitted).
	MaxProblems = 1000
	// MaxRecord bounds one CSV row or one bundle entry: a file whose row
	// (or entry) is longer is refused, so that a reader never holds more.
	MaxRecord = 1 << 20
)

// FileError is a file that cannot be imported as a whole (a wrong
// header, not a FHIR Bundle, malformed JSON, a row too long); its detail
// names the problem in words.
type FileError struct{ Detail }

func (e *FileError) Error() string { return e.Text(i18n.EN) }

// FileErr makes a FileError of a code of the catalogue's "import.".
func FileErr(code string, args ...string) *FileError {
	return &FileError{Detail{Code: code, Args: args}}
}

// ErrRecordTooLong is returned by a RecordLimit's reader past MaxRecord.
var ErrRecordTooLong = errors.New("history: record too long")

// RecordLimit wraps the reader of a decoder that reads one record at a
// time (csv.Reader, json.Decoder): Read fails with ErrRecordTooLong once
// more than Max bytes were handed out beyond Offset, the decoder's
// position at the end of its last record. A decoder never buffers a whole
// record longer than that.
type RecordLimit struct {
	R      io.Reader
	Max    int64
	Offset func() int64
	n      int64
}

func (l *RecordLimit) Read(p []byte) (int, error) {
	if l.Offset != nil && l.n-l.Offset() > l.Max {
		return 0, ErrRecordTooLong
	}
	n, err := l.R.Read(p)
	l.n += int64(n)
	return n, err
}

// Importer checks visits and writes them in batches.
type Importer struct {
	Store       Store
	Institution string
	Departments map[string]bool // the institution's department codes
	Department  string          // of a CSV row that names none ("" : none)
	Now         time.Time       // visits after its day (Beijing) are refused
	Batch       int             // visits a transaction (DefaultBatch)
	MaxProblems int             // problems listed (MaxProblems)
	// Begin, when set, is called once the file is known to be an import
	// (its CSV header read), before anything is written; its error stops
	// the import.
	Begin func() error
	// Progress, when set, is called after every batch written (the
	// report is the importer's: read it, do not keep it).
	Progress func(*Report)
}

// run is one import under way.
type run struct {
	im    *Importer
	rep   *Report
	batch []Visit
	today string
	max   int
	// links are the MRNs of the batch to link to a resident ID (rows that
	// give both), each with the entry (index, line) it was first seen on.
	links map[Link]Problem
}

func (im *Importer) start(rep *Report) *run {
	b := im.Batch
	if b <= 0 {
		b = DefaultBatch
	}
	m := im.MaxProblems
	if m <= 0 {
		m = MaxProblems
	}
	if rep.Problems == nil {
		rep.Problems = []Problem{}
	}
	return &run{im: im, rep: rep, batch: make([]Visit, 0, b), today: im.Now.In(dates.Beijing).Format(dates.Layout), max: m, links: map[Link]Problem{}}
}

// note records an entry taken with a remark.
func (x *run) note(p Problem) {
	if len(x.rep.Notes) < x.max {
		p.Localize(i18n.EN)
		x.rep.Notes = append(x.rep.Notes, p)
	} else {
		x.rep.NotesOmitted++
	}
}

func (x *run) problem(p Problem) {
	x.rep.Failed++
	x.rep.Processed++
	if len(x.rep.Problems) < x.max {
		p.Localize(i18n.EN)
		x.rep.Problems = append(x.rep.Problems, p)
	} else {
		x.rep.ProblemsOmitted++
	}
}

// add checks v and queues it for writing, or records its problems.
func (x *run) add(ctx context.Context, v Visit, index, line int) error {
	birth, ds := x.check(&v)
	if len(ds) > 0 {
		x.problem(Problem{Index: index, Line: line, Details: ds})
		return nil
	}
	switch {
	case v.ResidentID == "":
		x.rep.UnderMRN++
	case v.MRN != "":
		l := Link{Institution: v.Institution, MRN: v.MRN, ResidentID: v.ResidentID, BirthDate: birth, By: LinkImport, At: x.im.Now}
		if _, seen := x.links[l]; !seen {
			x.links[l] = Problem{Index: index, Line: line}
		}
	}
	x.batch = append(x.batch, v)
	if len(x.batch) == cap(x.batch) {
		return x.flush(ctx)
	}
	return nil
}

func (x *run) flush(ctx context.Context) error {
	if len(x.batch) > 0 {
		n, err := x.im.Store.InsertVisits(ctx, x.batch)
		if err != nil {
			return err
		}
		x.rep.Imported += n
		x.rep.Duplicates += len(x.batch) - n
		x.rep.Processed += len(x.batch)
		clear(x.batch) // let the strings go
		x.batch = x.batch[:0]
	}
	if err := x.link(ctx); err != nil {
		return err
	}
	if x.im.Progress != nil {
		x.im.Progress(x.rep)
	}
	return ctx.Err()
}

// link links the MRNs of the rows written that gave a resident ID too;
// one linked to another resident ID, or whose record gives another birth
// date, is a note (the visits are written under their resident ID all
// the same).
func (x *run) link(ctx context.Context) error {
	if len(x.links) == 0 {
		return nil
	}
	links := make([]Link, 0, len(x.links))
	for l := range x.links {
		links = append(links, l)
	}
	// In file order, so that a conflict inside the file is reported on
	// its later row.
	slices.SortFunc(links, func(a, b Link) int { return x.links[a].Index - x.links[b].Index })
	res, err := x.im.Store.LinkMRNs(ctx, links)
	if err != nil {
		return err
	}
	for i, r := range res {
		switch r {
		case Linked:
			x.rep.MRNLinks++
		case LinkConflict, LinkBirth:
			p := x.links[links[i]]
			code := "mrn_link_conflict"
			if r == LinkBirth {
				code = "mrn_link_birth"
			}
			p.Details = []Detail{{Code: code, Args: []string{shown(links[i].MRN)}}}
			x.note(p)
		}
	}
	clear(x.links)
	return nil
}

// shown bounds a value of the file echoed in a problem.
func shown(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// check returns what is wrong with v: a valid resident ID, or (when it
// has none) a valid MRN; a department of the institution; a date that is
// a day between the patient's birth (from the resident ID, else the birth
// date the file gives) and today; and a diagnosis code, when given, of the
// shipped ICD-10 list (written as the list writes it). birth is the
// resident ID's birth date, "" without one.
func (x *run) check(v *Visit) (birth string, ds []Detail) {
	born := ""
	switch rid, err := identity.ParseResidentID(v.ResidentID, x.im.Now); {
	case err == nil:
		v.ResidentID = rid.Number
		birth = rid.Birth.Format(dates.Layout)
		born = birth
	case v.ResidentID != "" || v.MRN == "":
		ds = append(ds, residentIDDetail(v.ResidentID, err))
	}
	if v.MRN != "" && !ValidMRN(v.MRN) {
		ds = append(ds, Detail{Code: "mrn", Args: []string{shown(v.MRN), strconv.Itoa(MaxMRN)}})
	}
	if v.BirthDate != "" {
		if _, err := time.Parse(dates.Layout, v.BirthDate); err != nil || v.BirthDate > x.today {
			ds = append(ds, Detail{Code: "birth_date", Args: []string{shown(v.BirthDate)}})
		} else if born == "" {
			born = v.BirthDate
		}
	}
	switch {
	case v.Department == "":
		ds = append(ds, Detail{Code: "no_department"})
	case !x.im.Departments[v.Department]:
		ds = append(ds, Detail{Code: "department", Args: []string{shown(v.Department)}})
	}
	if _, err := time.Parse(dates.Layout, v.Date); err != nil {
		ds = append(ds, Detail{Code: "visit_date", Args: []string{shown(v.Date)}})
	} else if v.Date > x.today {
		ds = append(ds, Detail{Code: "future", Args: []string{v.Date, x.today}})
	} else if born != "" && v.Date < born {
		ds = append(ds, Detail{Code: "before_birth", Args: []string{v.Date}})
	}
	if v.DiagnosisCode != "" {
		if c, ok := visit.LookupICD(v.DiagnosisCode); ok {
			v.DiagnosisCode = c.Code
			if v.DiagnosisName == "" {
				v.DiagnosisName = c.Name
			}
		} else {
			ds = append(ds, Detail{Code: "icd", Args: []string{shown(v.DiagnosisCode)}})
		}
	}
	// A store keeps valid UTF-8 without NUL (PostgreSQL refuses both): a
	// value with either is the row's problem, not its batch's failure.
	for _, c := range [...]struct{ col, v string }{{"resident_id", v.ResidentID}, {"department", v.Department}, {"visit_date", v.Date},
		{"diagnosis_code", v.DiagnosisCode}, {"diagnosis_name", v.DiagnosisName}, {"mrn", v.MRN}, {"name", v.PatientName},
		{"birth_date", v.BirthDate}, {"sex", v.Sex}, {"id", v.ExternalID}} {
		if !utf8.ValidString(c.v) || strings.ContainsRune(c.v, 0) {
			ds = append(ds, Detail{Code: "unstorable", Args: []string{c.col}})
		}
	}
	return birth, ds
}

// CSV imports a CSV stream with CSVHeader (or CSVHeaderMRN): rows are
// read, checked and written DefaultBatch at a time, so that memory stays
// the same whatever the length. Bad rows are problems numbered by row and by their line in
// the file; a wrong header or a row longer than MaxRecord is a
// *FileError; an error of r (a size limit, a broken connection) is
// returned as it is. What was written before an error stays (a new import
// of the same file counts it as duplicates).
func (im *Importer) CSV(ctx context.Context, r io.Reader, rep *Report) error {
	x := im.start(rep)
	bad := func(p Problem) {
		x.rep.Total++
		x.problem(p)
	}
	err := ReadCSV(r, [][]string{CSVHeader, CSVHeaderMRN}, im.Begin, bad, func(rec []string, row, line int) error {
		x.rep.Total++
		var definite bool
		switch strings.ToLower(strings.TrimSpace(rec[5])) {
		case "1", "true", "yes", "y", "是":
			definite = true
		case "0", "false", "no", "n", "否", "":
		default:
			x.problem(Problem{Index: row, Line: line, Details: []Detail{{Code: "definite", Args: []string{shown(rec[5])}}}})
			return nil
		}
		v := Visit{Institution: im.Institution, ResidentID: strings.ToUpper(strings.TrimSpace(rec[0])), Department: strings.TrimSpace(rec[1]),
			Date: strings.TrimSpace(rec[2]), DiagnosisCode: strings.TrimSpace(rec[3]), DiagnosisName: strings.TrimSpace(rec[4]), Definite: definite, Source: "csv"}
		if len(rec) == len(CSVHeaderMRN) {
			v.MRN, v.PatientName, v.BirthDate = NormMRN(rec[6]), strings.TrimSpace(rec[7]), strings.TrimSpace(rec[8])
		}
		if v.Department == "" {
			v.Department = im.Department
		}
		v.ExternalID = CSVExternalID(v)
		return x.add(ctx, v, row, line)
	})
	if err != nil {
		return err
	}
	return x.flush(ctx)
}

// ReadCSV reads a CSV stream row by row, holding one row at a time (the
// history import and the MRN link file share it). Its header must be one
// of heads, told apart by their lengths (a leading BOM and spaces
// ignored); no header, or another, is a *FileError naming heads[0] (or the
// head of that length). begin, when set, is called once the header is
// read, before any row; its error stops the stream. Each row with as many
// fields as the header goes to row with its 1-based number (after the
// header) and the line of the file it starts on; a row that is not CSV
// (a quote) or has another number of fields goes to bad as a Problem. A
// row longer than MaxRecord is a *FileError; an error of r, begin or row
// is returned as it is. The record row is given is reused by the next
// row (its strings are not).
func ReadCSV(r io.Reader, heads [][]string, begin func() error, bad func(Problem), row func(rec []string, index, line int) error) error {
	named := strings.Join(heads[0], ",")
	lim := &RecordLimit{R: r, Max: MaxRecord}
	cr := csv.NewReader(lim)
	lim.Offset = cr.InputOffset
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		var pe *csv.ParseError
		switch {
		case err == io.EOF:
			return FileErr("no_header", named)
		case errors.Is(err, ErrRecordTooLong), errors.As(err, &pe):
			return FileErr("header", named)
		}
		return err
	}
	var want []string
	for _, h := range heads {
		if len(h) == len(head) {
			want = h
			break
		}
	}
	if want == nil {
		return FileErr("header", named)
	}
	for i, h := range head {
		if strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")) != want[i] {
			return FileErr("header", strings.Join(want, ","))
		}
	}
	if begin != nil {
		if err := begin(); err != nil {
			return err
		}
	}
	lastLine, _ := cr.FieldPos(0)
	for index := 1; ; index++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			switch {
			case errors.Is(err, ErrRecordTooLong):
				return FileErr("row_too_long", strconv.Itoa(lastLine), strconv.Itoa(MaxRecord>>20))
			case errors.As(err, &pe):
				code := "csv_quote"
				if errors.Is(pe.Err, csv.ErrBareQuote) {
					code = "csv_bare_quote"
				}
				bad(Problem{Index: index, Line: pe.StartLine, Details: []Detail{{Code: code, Args: []string{strconv.Itoa(pe.Line)}}}})
				lastLine = pe.Line
				continue
			}
			return err
		}
		line, _ := cr.FieldPos(0)
		lastLine = line
		if len(rec) != len(want) {
			bad(Problem{Index: index, Line: line, Details: []Detail{{Code: "fields", Args: []string{strconv.Itoa(len(rec)), strconv.Itoa(len(want))}}}})
			continue
		}
		if err := row(rec, index, line); err != nil {
			return err
		}
	}
}

// CSVExternalID is a CSV visit's identity: the same person (by resident
// ID, else by MRN), department, day and diagnosis code (as the file writes
// it) is the same visit however often it is imported.
func CSVExternalID(v Visit) string {
	who := v.ResidentID
	if who == "" && v.MRN != "" {
		who = "mrn:" + v.MRN
	}
	h := sha256.Sum256([]byte(who + "\x00" + v.Department + "\x00" + v.Date + "\x00" + v.DiagnosisCode))
	return "csv:" + hex.EncodeToString(h[:12])
}

// Visits imports visits read from a bundle: index gives each visit's entry
// number, problems (in entry order) the entries that could not be read as
// visits; both are reported in entry order.
func (im *Importer) Visits(ctx context.Context, visits []Visit, index []int, problems []Problem, rep *Report) error {
	if len(index) != len(visits) {
		return fmt.Errorf("history: %d visits, %d indexes", len(visits), len(index))
	}
	if im.Begin != nil {
		if err := im.Begin(); err != nil {
			return err
		}
	}
	x := im.start(rep)
	p := 0
	for i, v := range visits {
		for p < len(problems) && problems[p].Index < index[i] {
			x.rep.Total++
			x.problem(problems[p])
			p++
		}
		x.rep.Total++
		if err := x.add(ctx, v, index[i], 0); err != nil {
			return err
		}
	}
	for ; p < len(problems); p++ {
		x.rep.Total++
		x.problem(problems[p])
	}
	err := x.flush(ctx)
	// The bundle's notes (given in rep) and the links' in entry order.
	slices.SortStableFunc(x.rep.Notes, func(a, b Problem) int { return a.Index - b.Index })
	return err
}
