package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/cdc"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/fhir/r4"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// Reports of notifiable infectious diseases to disease control (W-5;
// package cdc). The list is data (GET /api/v1/notifiable-diseases, the
// regulator's PUT …/{code}); signing a record with a diagnosis on it
// writes the report to the outbox in the same transaction (sqlstore), and
// a sender loop posts each as a FHIR message Bundle (MessageHeader,
// Patient, Encounter, Condition) to Config.CDCURL (--cdc-url) until the
// receiver takes it. POST /api/v1/sandbox/cdc is a sandbox receiver that
// fails now and then as a real one does, keeping each message once.

// CDCSandboxConfig sets how the sandbox receiver fails: FailRate of the
// messages are refused (503) before being kept, LostRate are kept but
// answered with an error (the answer lost on the way), after Delay.
type CDCSandboxConfig struct {
	FailRate, LostRate float64
	Delay              time.Duration
}

// setUpCDC starts the sender's loop when reports have an address.
func (s *Server) setUpCDC(cfg Config) {
	ctx, stop := context.WithCancel(context.Background())
	s.stopCDC = stop
	if cfg.CDCURL == "" {
		return
	}
	snd := s.CDCSender(cfg.CDCURL)
	s.cdcDone = make(chan struct{})
	go func() {
		defer close(s.cdcDone)
		snd.Run(ctx)
	}()
}

// CDCSender is a sender of the outbox to the receiver at target, on the
// server's clock.
func (s *Server) CDCSender(target string) *cdc.Sender {
	client := s.cfg.CDCClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return &cdc.Sender{Store: s.db, URL: target, Client: client, Log: s.log, Now: s.cfg.Now, Build: s.cdcBundle}
}

// messageHeader is a FHIR MessageHeader (only what the report uses).
type messageHeader struct {
	ResourceType string         `json:"resourceType"`
	ID           string         `json:"id"`
	EventCoding  r4.Coding      `json:"eventCoding"`
	Sender       *r4.Reference  `json:"sender,omitempty"`
	Source       messageSource  `json:"source"`
	Focus        []r4.Reference `json:"focus,omitempty"`
}

type messageSource struct {
	Name     string `json:"name,omitempty"`
	Software string `json:"software,omitempty"`
	Endpoint string `json:"endpoint"`
}

// CDCEventSystem is the code system of the report's message event.
const CDCEventSystem = "https://yunyi.dev/fhir/CodeSystem/message-event"

// cdcBundle makes a report's FHIR message: the header first, then the
// patient, the visit's encounter and the notifiable diagnosis.
func (s *Server) cdcBundle(ctx context.Context, rep cdc.Report) ([]byte, error) {
	v, err := s.db.Visit(ctx, rep.VisitID)
	if err != nil {
		return nil, err
	}
	recs, err := s.db.Records(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	// The newest signed version that has the diagnosis (an amendment may
	// have dropped it since: the report stands as signed then).
	var rec *visit.Record
	n := 0
	for i := len(recs) - 1; i >= 0 && rec == nil; i-- {
		for j, d := range recs[i].Diagnoses {
			if d.Code == rep.Code {
				rec, n = &recs[i], j+1
				break
			}
		}
	}
	if rec == nil {
		return nil, fmt.Errorf("visit %d has no signed diagnosis %s", v.ID, rep.Code)
	}
	p, err := s.ids.Store.PatientByID(ctx, v.PatientID)
	if err != nil {
		return nil, err
	}
	_, dept := s.instNames(ctx, v.Institution, v.Department, i18n.ZH)
	cond := r4.ConditionOf(v, rec, n)
	id := rep.MessageID()
	hdr := messageHeader{ResourceType: "MessageHeader", ID: id,
		EventCoding: r4.Coding{System: CDCEventSystem, Code: "notifiable-disease-report", Display: "传染病报告"},
		Sender:      &r4.Reference{Reference: "Organization/" + v.Institution},
		Source:      messageSource{Name: "云医 Yunyi", Software: "yunyi", Endpoint: "urn:yunyi:institution:" + v.Institution},
		Focus:       []r4.Reference{{Reference: "Condition/" + cond.ID}}}
	b := r4.Bundle{ResourceType: "Bundle", ID: id, Type: "message", Timestamp: r4.Instant(rep.CreatedAt), Entry: []r4.BundleEntry{
		{Resource: hdr}, {Resource: r4.PatientOf(p, false)}, {Resource: r4.EncounterOf(v, dept, len(rec.Diagnoses), true)}, {Resource: cond}}}
	return json.Marshal(b)
}

// --- the sandbox receiver ---

// apiCDCSandboxReceive takes a report as disease control's system would:
// a FHIR message Bundle, kept once per message id; now and then it fails
// (CDCSandboxConfig), so the sender's retries are exercised.
func (s *Server) apiCDCSandboxReceive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		s.fail(w, r, errs.E(errs.PayloadTooBig))
		return
	}
	var b struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
		Type         string `json:"type"`
		Entry        []struct {
			Resource struct {
				ResourceType string `json:"resourceType"`
				ID           string `json:"id"`
			} `json:"resource"`
		} `json:"entry"`
	}
	var f errs.Fields
	if err := json.Unmarshal(body, &b); err != nil {
		f.Add("body", "invalid")
	} else {
		if b.ResourceType != "Bundle" || b.Type != "message" {
			f.Add("type", "invalid")
		}
		if len(b.Entry) == 0 || b.Entry[0].Resource.ResourceType != "MessageHeader" || b.Entry[0].Resource.ID == "" {
			f.Add("entry[0]", "required")
		}
	}
	if err := f.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	cfg := s.cfg.CDCSandbox
	if cfg.Delay > 0 {
		time.Sleep(cfg.Delay)
	}
	if rand.Float64() < cfg.FailRate {
		s.fail(w, r, errs.E(errs.Unavailable))
		return
	}
	id := b.Entry[0].Resource.ID
	fresh, err := s.db.CDCSandboxReceive(r.Context(), id, body, s.cfg.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if rand.Float64() < cfg.LostRate {
		s.fail(w, r, errs.E(errs.Unavailable))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"message_id": id, "duplicate": !fresh})
}

type cdcReceivedOut struct {
	Messages []sqlstore.CDCReceived `json:"messages"`
}

// cdcSandboxReceived lists what the sandbox receiver holds (the regulator,
// standing for disease control).
func (s *Server) cdcSandboxReceived(ctx context.Context, c call, _ none) (*cdcReceivedOut, error) {
	if c.Actor.Role != identity.RoleRegulator {
		return nil, errs.E(errs.Forbidden)
	}
	list, err := s.db.CDCSandboxReceived(ctx, 500)
	if err != nil {
		return nil, err
	}
	if err := s.record(c.r, "cdc.sandbox.read", "cdc_message", strconv.Itoa(len(list)), "", ""); err != nil {
		return nil, err
	}
	return &cdcReceivedOut{Messages: list}, nil
}

// --- the list and the outbox ---

type notifiableOut struct {
	Diseases []cdc.Disease `json:"diseases"`
}

// listNotifiable is the notifiable list (public: codes and names).
func (s *Server) listNotifiable(ctx context.Context, c call, _ none) (*notifiableOut, error) {
	list, err := s.db.NotifiableDiseases(ctx)
	if err != nil {
		return nil, err
	}
	return &notifiableOut{Diseases: list}, nil
}

type notifiableIn struct {
	Name   string `json:"name"`
	NameEN string `json:"name_en"`
	Class  string `json:"class"`
	Active *bool  `json:"active"`
}

// icdKnown says whether a code, or a category of codes, is on the shipped
// ICD-10 list.
func icdKnown(code string) bool {
	if _, ok := visit.LookupICD(code); ok {
		return true
	}
	for _, c := range visit.SearchICD(code+".", 5) {
		if strings.HasPrefix(c.Code, code+".") {
			return true
		}
	}
	return false
}

// putNotifiable adds a disease to the list or changes it (the regulator).
func (s *Server) putNotifiable(ctx context.Context, c call, in notifiableIn) (*cdc.Disease, error) {
	if c.Actor.Role != identity.RoleRegulator {
		return nil, errs.E(errs.Forbidden)
	}
	d := &cdc.Disease{Code: c.Path("code"), Name: in.Name, NameEN: in.NameEN, Class: in.Class, Active: true, UpdatedBy: c.Actor.ID, UpdatedAt: s.cfg.Now()}
	if in.Active != nil {
		d.Active = *in.Active
	}
	if err := d.Validate(icdKnown); err != nil {
		return nil, err
	}
	if err := s.db.SaveNotifiable(ctx, d); err != nil {
		return nil, err
	}
	if err := s.record(c.r, "cdc.notifiable.save", "notifiable_disease", d.Code, "", fmt.Sprintf("%s %s active=%t", d.Class, d.Name, d.Active)); err != nil {
		return nil, err
	}
	return d, nil
}

type cdcReportsOut struct {
	Reporting bool         `json:"reporting"` // this server sends its outbox (--cdc-url)
	Reports   []cdc.Report `json:"reports"`
}

// cdcReports lists the outbox with each report's state (the regulator).
func (s *Server) cdcReports(ctx context.Context, c call, _ none) (*cdcReportsOut, error) {
	if c.Actor.Role != identity.RoleRegulator {
		return nil, errs.E(errs.Forbidden)
	}
	list, err := s.db.CDCReports(ctx, 500)
	if err != nil {
		return nil, err
	}
	return &cdcReportsOut{Reporting: s.cfg.CDCURL != "", Reports: list}, nil
}
