package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/yunyi-health/yunyi/internal/rx"
)

// rxVerify checks a prescription's signatures against what the database
// holds now (a changed byte fails) and the signers' registered keys. Only
// public keys are needed: no master key.
func rxVerify(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("rx verify", flag.ContinueOnError)
	dsn := fs.String("db", defaultDB(), "SQLite file or postgres:// URL")
	id := fs.Int64("id", 0, "the prescription's id")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *id <= 0 {
		return errors.New("usage: yunyi rx verify --id N [--db ...]")
	}
	db, err := openDB(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := db.Prescription(ctx, *id)
	if err != nil {
		return fmt.Errorf("prescription %d: %w", *id, err)
	}
	keys := &rx.Keys{Store: db}
	valid, checks, err := keys.Verify(ctx, p)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "prescription %d version %d (%s), issued %s\n", p.ID, p.Version, p.Status, p.IssuedAt.Format("2006-01-02 15:04:05Z07:00"))
	for _, c := range checks {
		mark := "valid"
		if !c.Valid {
			mark = "INVALID"
		}
		fmt.Fprintf(stdout, "  %-10s %-8s %s\n", c.Role, c.Name, mark)
	}
	if !valid {
		fmt.Fprintln(stdout, "INVALID")
		return errors.New("the prescription's signatures do not verify")
	}
	fmt.Fprintln(stdout, "valid")
	return nil
}
