package history

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/i18n"
)

// linkStore is memStore with links: an MRN → resident ID map whose links
// are never changed, and the records' birth dates.
type linkStore struct {
	memStore
	links map[string]string // mrn → resident ID
	birth map[string]string // mrn → the record's birth date
	calls [][]Link
}

func (s *linkStore) LinkMRNs(_ context.Context, ls []Link) ([]LinkResult, error) {
	if s.links == nil {
		s.links = map[string]string{}
	}
	s.calls = append(s.calls, append([]Link(nil), ls...))
	out := make([]LinkResult, len(ls))
	for i, l := range ls {
		switch cur, ok := s.links[l.MRN]; {
		case ok && cur == l.ResidentID:
			out[i] = AlreadyLinked
		case ok:
			out[i] = LinkConflict
		case s.birth[l.MRN] != "" && s.birth[l.MRN] != l.BirthDate:
			out[i] = LinkBirth
		default:
			s.links[l.MRN] = l.ResidentID
			out[i] = Linked
		}
	}
	return out, nil
}

// A name is the same person's whatever the spacing, case, order of
// family and given names, or Synthea's digits; another name is not.
func TestSameName(t *testing.T) {
	cases := []struct {
		a, b string
		same bool
	}{
		{"李小雨", "李小雨", true},
		{"李 小雨", "李小雨", true},
		{"Clemente Kreiger", "Kreiger Clemente", true},
		{"clemente  KREIGER", "Clemente Kreiger", true},
		{"Alfreda619 Wyman904", "Alfreda Wyman", true},
		{"阿卜杜·热合曼", "阿卜杜热合曼", true},
		{"李小雨", "李小语", false},
		{"Clemente Kreiger", "Clemente Kreig", false},
		{"Clemente Kreiger", "Clemente", false},
		{"", "", false},
		{"123", "123", false},
	}
	for _, c := range cases {
		if got := SameName(c.a, c.b); got != c.same {
			t.Errorf("SameName(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

// The hospital card is bound only by the person of the record: same name,
// same birth day, same sex when the record says; a record without a name
// or a birth date binds nobody.
func TestCardHolder(t *testing.T) {
	birth := time.Date(1984, 7, 2, 0, 0, 0, 0, time.UTC)
	rec := MRN{Name: "Clemente Kreiger", BirthDate: "1984-07-02", Sex: "male"}
	cases := []struct {
		name string
		rec  MRN
		who  string
		born time.Time
		sex  string
		ok   bool
	}{
		{"the holder", rec, "Clemente Kreiger", birth, "male", true},
		{"family name first", rec, "Kreiger Clemente", birth, "male", true},
		{"another name", rec, "Buster Hoeger", birth, "male", false},
		{"another birth day", rec, "Clemente Kreiger", birth.AddDate(0, 0, 1), "male", false},
		{"another sex", rec, "Clemente Kreiger", birth, "female", false},
		{"the record gives no sex", MRN{Name: rec.Name, BirthDate: rec.BirthDate}, "Clemente Kreiger", birth, "female", true},
		{"no birth date on record", MRN{Name: rec.Name}, "Clemente Kreiger", birth, "male", false},
		{"no name on record", MRN{BirthDate: rec.BirthDate}, "Clemente Kreiger", birth, "male", false},
	}
	for _, c := range cases {
		if got := c.rec.CardHolder(c.who, c.born, c.sex); got != c.ok {
			t.Errorf("%s: %v", c.name, got)
		}
	}
}

const headMRN = "resident_id,department,visit_date,diagnosis_code,diagnosis_name,definite,mrn,name,birth_date\n"

// With the MRN header, a row without a resident ID is kept under its MRN
// (counted in under_mrn), checked against the birth date it gives; a row
// with both links the MRN (once a batch), and a link the store refuses is
// a note, the visit written all the same.
func TestCSVUnderMRN(t *testing.T) {
	a := rid("1980-05-06", 1)
	b := rid("1990-01-02", 2)
	file := headMRN +
		",derm,2026-10-01,L20.9,特应性皮炎,true,mr-001,张三,1980-05-06\n" + // 2: under the MRN (upper-cased)
		",derm,2026-10-02,L20.9,,true,MR-001,,\n" + // 3: the same MRN, nothing more said
		a + ",derm,2026-10-03,L20.9,,true,MR-001,张三,1980-05-06\n" + // 4: links MR-001 to a
		a + ",growth,2026-10-04,,,false,MR-001,张三,1980-05-06\n" + // 5: the same link: asked once
		b + ",derm,2026-10-05,,,true,MR-001,李四,1990-01-02\n" + // 6: MR-001 is a's: a note
		",derm,1979-01-01,L20.9,,true,MR-002,王五,1980-05-06\n" + // 7: before the birth date it gives
		",derm,2026-10-01,L20.9,,true,,王五,1980-05-06\n" + // 8: neither resident ID nor MRN
		",derm,2026-10-01,L20.9,,true,MR 003,王五,1980-05-06\n" + // 9: not an MRN
		",derm,2026-10-01,L20.9,,true,MR-004,王五,1980-13-06\n" + // 10: not a birth date
		a + ",derm,2026-10-06,L20.9,,true\n" // 11: 6 fields
	st := &linkStore{memStore: memStore{keep: true}}
	rep := &Report{}
	if err := importer(st).CSV(context.Background(), strings.NewReader(file), rep); err != nil {
		t.Fatal(err)
	}
	if rep.Total != 10 || rep.Imported != 5 || rep.Failed != 5 || rep.UnderMRN != 2 || rep.MRNLinks != 1 {
		t.Fatalf("%+v", rep)
	}
	var codes []string
	for _, p := range rep.Problems {
		codes = append(codes, fmt.Sprintf("%d:%s", p.Line, p.Details[0].Code))
	}
	if fmt.Sprint(codes) != "[7:before_birth 8:no_resident_id 9:mrn 10:birth_date 11:fields]" {
		t.Fatalf("%v", codes)
	}
	if len(rep.Notes) != 1 || rep.Notes[0].Line != 6 || rep.Notes[0].Details[0].Code != "mrn_link_conflict" || !strings.Contains(rep.Notes[0].Reason, "MR-001") {
		t.Fatalf("notes %+v", rep.Notes)
	}
	if len(st.calls) != 1 || len(st.calls[0]) != 2 || st.calls[0][0].BirthDate != "1980-05-06" || st.calls[0][0].By != LinkImport {
		t.Fatalf("links asked %+v", st.calls)
	}
	v := st.visits[0]
	if v.ResidentID != "" || v.MRN != "MR-001" || v.PatientName != "张三" || v.BirthDate != "1980-05-06" {
		t.Fatalf("%+v", v)
	}
	// A visit under an MRN and the same under a resident ID are two.
	if st.visits[0].ExternalID == CSVExternalID(Visit{ResidentID: a, Department: "derm", Date: "2026-10-01", DiagnosisCode: "L20.9"}) {
		t.Fatal("external ids of an MRN row and a resident ID row collide")
	}
	for _, lang := range []i18n.Lang{i18n.ZH, i18n.EN} {
		rep.Localize(lang)
		for _, p := range append(rep.Problems, rep.Notes...) {
			if strings.Contains(p.Reason, "%!") || strings.Contains(p.Reason, "import.") {
				t.Fatalf("%s: %q", lang, p.Reason)
			}
		}
	}
}

// A link file links each row's MRN; bad rows, MRNs linked to someone
// else and records of another birth date are problems with their line.
func TestLinkFile(t *testing.T) {
	a, b := rid("1980-05-06", 1), rid("1990-01-02", 2)
	st := &linkStore{links: map[string]string{"MR-9": b}, birth: map[string]string{"MR-8": "1970-01-01"}}
	file := "mrn,resident_id\n" +
		"mr-1," + strings.ToLower(a) + "\n" + // 2: linked
		"MR-1," + a + "\n" + // 3: again: already
		"MR-9," + a + "\n" + // 4: b's
		"MR-8," + a + "\n" + // 5: the record was born in 1970
		"," + a + "\n" + // 6
		"MR-2,12345\n" + // 7
		"MR-3\n" + // 8
		"MR-4," + b + "\n" // 9: linked
	rep := &LinkReport{}
	im := &Importer{Store: st, Institution: "h1", Now: now}
	if err := im.Links(context.Background(), strings.NewReader(file), 7, rep); err != nil {
		t.Fatal(err)
	}
	if rep.Total != 8 || rep.Linked != 2 || rep.Already != 1 || rep.Failed != 5 {
		t.Fatalf("%+v", rep)
	}
	var codes []string
	for _, p := range rep.Problems {
		codes = append(codes, fmt.Sprintf("%d:%s", p.Line, p.Details[0].Code))
	}
	if fmt.Sprint(codes) != "[4:mrn_link_conflict 5:mrn_link_birth 6:no_mrn 7:resident_id 8:fields]" {
		t.Fatalf("%v", codes)
	}
	if l := st.calls[0][0]; l.MRN != "MR-1" || l.ResidentID != a || l.By != LinkFile || l.Account != 7 || l.BirthDate != "1980-05-06" || l.Institution != "h1" {
		t.Fatalf("%+v", l)
	}
	for _, bad := range []string{"", "resident_id,mrn\n", "mrn\n"} {
		err := im.Links(context.Background(), strings.NewReader(bad), 7, &LinkReport{})
		if fe, ok := err.(*FileError); !ok || (fe.Code != "header" && fe.Code != "no_header") {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}

// An MRN is kept in upper case; only letters, digits and - _ . / and at
// most MaxMRN of them.
func TestValidMRN(t *testing.T) {
	for s, ok := range map[string]bool{
		NormMRN(" 1484a42d-0eaf-4654-9cbf-6b050a5cd73b "): true, "BJ2026/0001": true, "A_1.2": true,
		"": false, "MR 1": false, "病案1": false, strings.Repeat("1", MaxMRN): true, strings.Repeat("1", MaxMRN+1): false,
	} {
		if ValidMRN(s) != ok {
			t.Errorf("ValidMRN(%q) != %v", s, ok)
		}
	}
}
