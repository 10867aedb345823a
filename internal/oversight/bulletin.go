package oversight

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
)

// Evaluation bulletins (评价通报, G-4): a month's or a quarter's figures of
// the dashboard, per institution and overall, with the first-visit
// quality indicators, complaints and adverse events, and the regulator's
// commentary. A bulletin is drafted and edited by the regulator; once
// published it never changes (its figures are frozen at publication) and
// it is public.

// BulletinPeriod is the length of a bulletin's period.
type BulletinPeriod string

const (
	PeriodMonth   BulletinPeriod = "month"
	PeriodQuarter BulletinPeriod = "quarter"
)

// BulletinState is a bulletin's state.
type BulletinState string

const (
	BulletinDraft     BulletinState = "draft"
	BulletinPublished BulletinState = "published"
)

// Error codes.
const (
	CodeBulletinPublished = "bulletin_published" // a published bulletin never changes
	CodeBulletinExists    = "bulletin_exists"    // one bulletin a period
)

// Limits of a bulletin's texts (characters).
const (
	MaxBulletinTitle = 200
	MaxCommentary    = 20000
)

// Bulletin is an evaluation bulletin.
type Bulletin struct {
	ID          int64          `json:"id"`
	Period      BulletinPeriod `json:"period"`
	Year        int            `json:"year"`
	Number      int            `json:"number"` // the month (1–12) or the quarter (1–4)
	Label       string         `json:"label"`  // 2026-05, 2026-Q2
	From        string         `json:"from"`
	To          string         `json:"to"`
	Title       string         `json:"title"`
	Commentary  string         `json:"commentary"`
	State       BulletinState  `json:"state"`
	CreatedBy   int64          `json:"-"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
	PublishedBy int64          `json:"-"`
	PublishedAt time.Time      `json:"published_at,omitzero"`
	// Figures are frozen at publication (a draft's are computed when read).
	Figures *Dashboard `json:"figures,omitempty"`
}

// Published reports whether the bulletin is final.
func (b *Bulletin) Published() bool { return b.State == BulletinPublished }

// BulletinIn is what a bulletin is drafted with: its period (the previous
// complete month or quarter when year and number are left out), and
// optionally its title and commentary.
type BulletinIn struct {
	Period     BulletinPeriod `json:"period"`
	Year       int            `json:"year"`
	Number     int            `json:"number"`
	Title      string         `json:"title"`
	Commentary string         `json:"commentary"`
}

var quarterNames = []string{"", "第一季度", "第二季度", "第三季度", "第四季度"}

// DefaultTitle is a period's bulletin title.
func DefaultTitle(p BulletinPeriod, year, number int) string {
	if p == PeriodQuarter {
		return fmt.Sprintf("北京市互联网诊疗服务质量评价通报（%d年%s）", year, quarterNames[number])
	}
	return fmt.Sprintf("北京市互联网诊疗服务质量评价通报（%d年%d月）", year, number)
}

// NewBulletin drafts a bulletin at now by the regulator's account by. The
// period must have begun.
func NewBulletin(in BulletinIn, now time.Time, by int64) (*Bulletin, error) {
	today := now.In(dates.Beijing)
	var f errs.Fields
	switch in.Period {
	case PeriodMonth, PeriodQuarter:
	case "":
		f.Add("period", "required")
	default:
		f.Add("period", "not_an_option")
	}
	if in.Year == 0 && in.Number == 0 && (in.Period == PeriodMonth || in.Period == PeriodQuarter) {
		// The previous complete period.
		first := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, dates.Beijing)
		if in.Period == PeriodMonth {
			prev := first.AddDate(0, -1, 0)
			in.Year, in.Number = prev.Year(), int(prev.Month())
		} else {
			q := (int(today.Month())-1)/3 + 1
			in.Year, in.Number = today.Year(), q-1
			if q == 1 {
				in.Year, in.Number = today.Year()-1, 4
			}
		}
	}
	limit := 12
	if in.Period == PeriodQuarter {
		limit = 4
	}
	if in.Year < 2000 || in.Year > 2100 {
		f.Add("year", "not_an_option")
	}
	if in.Number < 1 || in.Number > limit {
		f.Add("number", "not_an_option")
	}
	in.Title, in.Commentary = strings.TrimSpace(in.Title), strings.TrimSpace(in.Commentary)
	text(&f, "title", in.Title, MaxBulletinTitle, false)
	text(&f, "commentary", in.Commentary, MaxCommentary, false)
	if err := f.Err(); err != nil {
		return nil, err
	}
	b := &Bulletin{Period: in.Period, Year: in.Year, Number: in.Number, Title: in.Title, Commentary: in.Commentary, State: BulletinDraft,
		CreatedBy: by, CreatedAt: now, UpdatedAt: now}
	start := time.Date(in.Year, time.Month(in.Number), 1, 0, 0, 0, 0, dates.Beijing)
	end := start.AddDate(0, 1, 0)
	b.Label = fmt.Sprintf("%d-%02d", in.Year, in.Number)
	if in.Period == PeriodQuarter {
		start = time.Date(in.Year, time.Month(3*in.Number-2), 1, 0, 0, 0, 0, dates.Beijing)
		end = start.AddDate(0, 3, 0)
		b.Label = fmt.Sprintf("%d-Q%d", in.Year, in.Number)
	}
	if start.After(today) {
		f.Add("number", "period_not_begun")
		return nil, f.Err()
	}
	b.From, b.To = start.Format(dates.Layout), end.AddDate(0, 0, -1).Format(dates.Layout)
	if b.Title == "" {
		b.Title = DefaultTitle(b.Period, b.Year, b.Number)
	}
	return b, nil
}

// Query is the dashboard a bulletin shows: its period, every
// institution, a month by week and a quarter by month.
func (b *Bulletin) Query() DashboardQuery {
	by := ByWeek
	if b.Period == PeriodQuarter {
		by = ByMonth
	}
	return DashboardQuery{From: b.From, To: b.To, By: by}
}

// BulletinEdit is a PUT of a draft: every field the regulator may change,
// none left out.
type BulletinEdit struct {
	Title      *string `json:"title"`
	Commentary *string `json:"commentary"`
}

// Edit replaces a draft's title and commentary at now; a published
// bulletin is refused.
func (b *Bulletin) Edit(in BulletinEdit, now time.Time) error {
	if b.Published() {
		return errs.E(CodeBulletinPublished)
	}
	var f errs.Fields
	if in.Title == nil {
		f.Add("title", "required")
	} else if t := strings.TrimSpace(*in.Title); t == "" {
		f.Add("title", "required")
	} else {
		text(&f, "title", t, MaxBulletinTitle, true)
	}
	if in.Commentary == nil {
		f.Add("commentary", "required")
	} else {
		text(&f, "commentary", strings.TrimSpace(*in.Commentary), MaxCommentary, false)
	}
	if err := f.Err(); err != nil {
		return err
	}
	b.Title, b.Commentary, b.UpdatedAt = strings.TrimSpace(*in.Title), strings.TrimSpace(*in.Commentary), now
	return nil
}

// Publish makes a draft final at now with its figures; a bulletin is
// published once, with the regulator's commentary.
func (b *Bulletin) Publish(figures *Dashboard, now time.Time, by int64) error {
	if b.Published() {
		return errs.E(CodeBulletinPublished)
	}
	if strings.TrimSpace(b.Commentary) == "" {
		var f errs.Fields
		f.Add("commentary", "required")
		return f.Err()
	}
	b.State, b.Figures, b.PublishedAt, b.PublishedBy, b.UpdatedAt = BulletinPublished, figures, now, by, now
	return nil
}

// BulletinStore keeps bulletins. Every write commits its audit entry in
// its transaction; a write to a published bulletin is refused
// (bulletin_published), whichever server asks.
type BulletinStore interface {
	CreateBulletin(ctx context.Context, b *Bulletin, e *audit.Entry) error
	Bulletin(ctx context.Context, id int64) (*Bulletin, error)
	Bulletins(ctx context.Context, publishedOnly bool) ([]Bulletin, error)
	// SaveBulletin stores a draft's title and commentary if it is still a
	// draft.
	SaveBulletin(ctx context.Context, b *Bulletin, e *audit.Entry) error
	// PublishBulletin stores the publication (state, figures, time, with
	// the title and commentary it was published with) if it is still a
	// draft.
	PublishBulletin(ctx context.Context, b *Bulletin, e *audit.Entry) error
}
