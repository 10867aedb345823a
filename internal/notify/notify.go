// Package notify is the in-app inbox of patients and staff, and the SMS
// adapter (issue: the visit) will sit beside it.
package notify

import (
	"context"
	"time"
)

// Notification is a message in an account's inbox, in both languages.
type Notification struct {
	ID        int64     `json:"id"`
	AccountID int64     `json:"-"`
	Kind      string    `json:"kind"` // booked, cancelled, ...
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	TitleEN   string    `json:"title_en"`
	BodyEN    string    `json:"body_en"`
	Ref       string    `json:"ref,omitempty"` // e.g. appointment/12
	CreatedAt time.Time `json:"created_at"`
	ReadAt    time.Time `json:"read_at,omitzero"`
}

// Store persists notifications.
type Store interface {
	Notify(ctx context.Context, n *Notification) error
	Inbox(ctx context.Context, accountID int64, limit int) ([]Notification, error)
	MarkRead(ctx context.Context, accountID, id int64, at time.Time) error
}
