package history

import (
	"io"
	"strconv"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// Synthetic is a CSV file of generated visits made as it is read (for the
// import benchmark and tests: millions of rows without holding them): a
// year of outpatient visits, two a person, each with a valid resident ID,
// a department of Departments, a date of the last year before Now and a
// code of the shipped ICD-10 list. Every BadEvery-th row (when > 0) has a
// diagnosis code outside the list, and is a problem of the import.
type Synthetic struct {
	Rows        int
	Departments []string
	Now         time.Time
	BadEvery    int

	i     int // rows made
	buf   []byte
	off   int
	codes []string
	today time.Time
	head  bool
}

var syntheticRegions = []string{"110101", "110102", "110105", "110106", "110107", "110108", "110109", "110111", "110112", "110113"}

// Person is the resident ID of the k-th person of a Synthetic file.
func (s *Synthetic) Person(k int) string {
	birth := time.Date(1940, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, (k/10000)*61)
	b := make([]byte, 0, 18)
	b = append(b, syntheticRegions[k%len(syntheticRegions)]...)
	b = birth.AppendFormat(b, "20060102")
	seq := (k / len(syntheticRegions)) % 1000
	b = append(b, byte('0'+seq/100), byte('0'+seq/10%10), byte('0'+seq%10))
	return string(append(b, identity.CheckDigit(string(b))))
}

func (s *Synthetic) fill() {
	s.buf, s.off = s.buf[:0], 0
	if !s.head {
		s.head = true
		for _, c := range visit.SearchICD("", 10000) {
			s.codes = append(s.codes, c.Code)
		}
		s.today = s.Now.In(dates.Beijing)
		s.buf = append(s.buf, "resident_id,department,visit_date,diagnosis_code,diagnosis_name,definite\n"...)
	}
	for ; s.i < s.Rows && len(s.buf) < 32<<10; s.i++ {
		k, j := s.i/2, s.i%2
		s.buf = append(s.buf, s.Person(k)...)
		s.buf = append(s.buf, ',')
		s.buf = append(s.buf, s.Departments[(k+j)%len(s.Departments)]...)
		s.buf = append(s.buf, ',')
		s.buf = s.today.AddDate(0, 0, -(1+k%180+j*181)).AppendFormat(s.buf, dates.Layout)
		s.buf = append(s.buf, ',')
		if s.BadEvery > 0 && (s.i+1)%s.BadEvery == 0 {
			s.buf = append(s.buf, "Z99.999"...)
		} else {
			s.buf = append(s.buf, s.codes[s.i%len(s.codes)]...)
		}
		s.buf = append(s.buf, ",门诊,"...)
		s.buf = strconv.AppendBool(s.buf, j == 0)
		s.buf = append(s.buf, '\n')
	}
}

func (s *Synthetic) Read(p []byte) (int, error) {
	if s.off == len(s.buf) {
		if s.head && s.i >= s.Rows {
			return 0, io.EOF
		}
		s.fill()
	}
	n := copy(p, s.buf[s.off:])
	s.off += n
	return n, nil
}

// Bad is how many rows of the file are problems.
func (s *Synthetic) Bad() int {
	if s.BadEvery <= 0 {
		return 0
	}
	return s.Rows / s.BadEvery
}
