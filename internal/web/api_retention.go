package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/retention"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// Retention of records (N-17; package retention): the periods per record
// type are data the platform's operators read and the security
// administrator changes (never below the legal minimum, audited); a
// visit's file is deleted only as a draft or after its period; the purge
// runs inside `yunyi serve` (cmd/yunyi calls PurgeExpired once a day).

type retentionOut struct {
	Policies []retention.Policy `json:"policies"`
	Runs     []retention.Run    `json:"runs"` // the newest purge runs, newest first
}

// getRetention lists the periods and the last purge runs.
func (s *Server) getRetention(ctx context.Context, c call, _ none) (*retentionOut, error) {
	if !authz.SeeRetention(c.Actor) {
		return nil, errs.E(errs.Forbidden)
	}
	ps, err := s.db.RetentionPolicies(ctx)
	if err != nil {
		return nil, err
	}
	runs, err := s.db.PurgeRuns(ctx, 10)
	if err != nil {
		return nil, err
	}
	return &retentionOut{Policies: ps, Runs: runs}, nil
}

// retentionIn replaces a type's policy: both fields are required.
type retentionIn struct {
	Years *int  `json:"years"`
	Purge *bool `json:"purge"`
}

// putRetention changes a type's period and purge switch: the security
// administrator, never below the legal minimum, audited with the change.
func (s *Server) putRetention(ctx context.Context, c call, in retentionIn) (*retention.Policy, error) {
	if !authz.SetRetention(c.Actor) {
		return nil, errs.E(errs.Forbidden)
	}
	typ := retention.Type(c.Path("type"))
	if !retention.Known(typ) {
		return nil, errs.E(errs.NotFound)
	}
	var f errs.Fields
	if in.Years == nil {
		f.Add("years", "put_missing")
	}
	if in.Purge == nil {
		f.Add("purge", "put_missing")
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	old, err := s.db.RetentionPolicy(ctx, typ)
	if err != nil {
		return nil, err
	}
	p := retention.Policy{Type: typ, Years: *in.Years, Purge: *in.Purge, UpdatedAt: s.cfg.Now(), UpdatedBy: c.Actor.ID}.WithRules()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	e := s.entry(c.r, "retention.policy.save", "retention_policy", string(typ), "",
		fmt.Sprintf("years %d→%d, purge %t→%t", old.Years, p.Years, old.Purge, p.Purge))
	if err := s.db.SaveRetentionPolicy(ctx, p, e); err != nil {
		return nil, err
	}
	return &p, nil
}

// PurgeExpired runs the purge once (N-17): the chat's messages and images
// and the call's guests whose period has ended, in batches, audited once
// (retention.purge). It answers nil when another server's run is under
// way.
func (s *Server) PurgeExpired(ctx context.Context) (*retention.Run, error) {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	p := &retention.Purger{Store: s.db, Files: s.blobs, Now: s.cfg.Now, Log: s.log,
		Owner: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b)), Batch: s.cfg.PurgeBatch}
	run, err := p.Run(ctx)
	if run != nil && err == nil {
		s.log.Info("retention purge", "run", run.ID, "detail", run.Detail())
	}
	return run, err
}

// PurgeDue runs the purge when no run started in the last day (the loop
// of `yunyi serve` asks every hour, so a server restarted often still
// purges once a day).
func (s *Server) PurgeDue(ctx context.Context) (*retention.Run, error) {
	runs, err := s.db.PurgeRuns(ctx, 1)
	if err != nil {
		return nil, err
	}
	if len(runs) > 0 && s.cfg.Now().Sub(runs[0].StartedAt) < retention.Interval-time.Hour {
		return nil, nil
	}
	return s.PurgeExpired(ctx)
}

// deleteAttachment removes a visit's file for its patient (the API and the
// visit page): a pre-consultation file while the answers may still change
// is a draft; any other file is a record and goes only after its period
// (N-17: the store refuses retention_period). Every attempt is audited.
func (s *Server) deleteAttachment(r *http.Request, vc *visitCtx) error {
	if err := vc.must(visit.PartyPatient); err != nil {
		return err
	}
	aid, err := strconv.ParseInt(r.PathValue("aid"), 10, 64)
	if err != nil {
		return errs.E(errs.NotFound)
	}
	a, err := s.db.DeleteAttachment(r.Context(), vc.v.ID, aid, s.cfg.Now())
	vid := strconv.FormatInt(vc.v.ID, 10)
	if err != nil {
		if errs.Is(err, retention.CodeTooEarly) {
			s.record(r, "visit.attachment.delete", "visit", vid, vc.v.Institution, fmt.Sprintf("%d refused: %s", aid, retention.CodeTooEarly))
		}
		return err
	}
	s.blobs.Delete(r.Context(), a.BlobKey)
	return s.record(r, "visit.attachment.delete", "visit", vid, vc.v.Institution, a.Name)
}
