package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// chatPost is one message's post: the server's answer (its number) or why
// there was none.
type chatPost struct {
	clientID string
	sender   string // "patient" or "doctor"
	text     string
	seq      int64 // acknowledged: the number the server answered with
	lost     bool  // sent, and the connection broke before an answer
}

// postMessage posts a chat message with a client id; it answers the HTTP
// status and the number, or an error when the connection broke.
func postMessage(client *http.Client, vpath, token, clientID, text string) (int, int64, error) {
	b, _ := json.Marshal(map[string]string{"text": text, "client_id": clientID})
	req, _ := http.NewRequest("POST", vpath+"/messages", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, 0, err
	}
	var m struct{ Seq int64 }
	json.Unmarshal(body, &m)
	return res.StatusCode, m.Seq, nil
}

// The chat holds a crash (issue 17): the real binary, a visit's chat
// between the guardian and the doctor, both posting concurrently as fast
// as the server lets them, the server killed with SIGKILL mid-stream and
// started again on the same database. Every message the server
// acknowledged (answered with its number) is there exactly once with that
// number, the numbers run without a gap, and a message whose answer the
// crash swallowed, sent again with its client id, is stored once: under
// the number it already had if it was written before the crash.
func TestChatSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("a crash has no date: it runs in the full pass; -short (CI's far-ahead pass) skips it")
	}
	eachEngine(t, func(t *testing.T, dsn string) {
		dir := t.TempDir()
		s := startServer(t, dir, "--demo", "--db", dsn)
		vpath, lm, doc := startedVisit(t, s.URL, "bch-skin-fv", "bch", "bch-dermatology-doctor")
		tokens := map[string]string{"patient": lm, "doctor": doc}

		// Each party posts from 12 connections at once (a client resending
		// on 429 after a pause, as the chat's page does), twice: a burst
		// of the chat's limit (30 a party), then, when the limit has given
		// some back, another burst, during which the server is killed once
		// 5 of it are acknowledged, while the rest are in flight.
		const workers = 12
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * workers}, Timeout: 20 * time.Second}
		var (
			mu     sync.Mutex
			posts  []*chatPost
			acked  atomic.Int64
			killAt atomic.Int64
			killed = make(chan struct{})
			once   sync.Once
		)
		killAt.Store(1 << 40)
		kill := func() {
			once.Do(func() {
				if err := s.cmd.Process.Kill(); err != nil {
					t.Errorf("kill: %v", err)
				}
				close(killed)
			})
		}
		burst := func(round, perWorker int) {
			var wg sync.WaitGroup
			for _, sender := range []string{"patient", "doctor"} {
				for w := range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range perWorker {
							p := &chatPost{clientID: fmt.Sprintf("%s-%d-%d-%d", sender, round, w, i), sender: sender,
								text: fmt.Sprintf("%s 第 %d 轮第 %d 路第 %d 条", sender, round, w, i)}
							mu.Lock()
							posts = append(posts, p)
							mu.Unlock()
							for {
								status, seq, err := postMessage(client, vpath, tokens[sender], p.clientID, p.text)
								if err != nil {
									p.lost = true
									return // the server is gone
								}
								if status == http.StatusCreated {
									p.seq = seq
									if acked.Add(1) >= killAt.Load() {
										kill()
									}
									break
								}
								if status != http.StatusTooManyRequests {
									t.Errorf("post %s: %d", p.clientID, status)
									return
								}
								select {
								case <-killed:
									p.lost = true // refused, then the server went: never stored
									return
								case <-time.After(250 * time.Millisecond):
								}
							}
						}
					}()
				}
			}
			wg.Wait()
		}
		burst(1, 2) // 24 a party: inside the limit's burst
		if n := acked.Load(); n != 2*workers*2 {
			t.Fatalf("first burst: %d acknowledged", n)
		}
		time.Sleep(8 * time.Second) // the limit gives back 16 a party
		killAt.Store(acked.Load() + 5)
		done := make(chan struct{})
		go func() { burst(2, 20); close(done) }()
		// A slow machine may not reach the mark before the limits do.
		select {
		case <-killed:
		case <-time.After(20 * time.Second):
			kill()
		}
		<-done
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			t.Fatal("the killed server did not exit")
		}

		var ackedPosts, lostPosts []*chatPost
		for _, p := range posts {
			switch {
			case p.seq > 0:
				ackedPosts = append(ackedPosts, p)
			case p.lost:
				lostPosts = append(lostPosts, p)
			}
		}
		if len(ackedPosts) < 2*workers*2+5 {
			t.Fatalf("only %d messages acknowledged before the kill", len(ackedPosts))
		}
		t.Logf("%s: %d acknowledged, %d in flight at the kill", t.Name(), len(ackedPosts), len(lostPosts))

		// Again on the same database: the sessions are the database's.
		s2 := startServer(t, dir, "--db", dsn)
		vpath2 := strings.Replace(vpath, s.URL, s2.URL, 1)
		var got struct {
			Messages []struct {
				Seq      int64
				ClientID string `json:"client_id"`
				Text     string
			}
		}
		if st := api(t, "GET", vpath2+"/messages?after=0", lm, nil, &got); st != 200 {
			t.Fatalf("messages after the restart: %d", st)
		}
		bySeq := map[int64]string{}
		byClient := map[string]int{}
		for i, m := range got.Messages {
			if m.Seq != int64(i+1) {
				t.Fatalf("message %d has number %d: the numbers have a gap or a repeat", i+1, m.Seq)
			}
			bySeq[m.Seq] = m.ClientID
			byClient[m.ClientID]++
		}
		for _, p := range ackedPosts {
			if bySeq[p.seq] != p.clientID || byClient[p.clientID] != 1 {
				t.Errorf("acknowledged %s as %d: found %q there, %d copies", p.clientID, p.seq, bySeq[p.seq], byClient[p.clientID])
			}
		}
		// The messages whose answers were lost: each sent again once.
		stored := 0
		for _, p := range lostPosts {
			before := byClient[p.clientID]
			if before > 1 {
				t.Errorf("%s stored %d times", p.clientID, before)
			}
			var seq int64
			for {
				status, n, err := postMessage(client, vpath2, tokens[p.sender], p.clientID, p.text)
				if err != nil {
					t.Fatal(err)
				}
				if status == http.StatusCreated {
					seq = n
					break
				}
				if status != http.StatusTooManyRequests {
					t.Fatalf("resend %s: %d", p.clientID, status)
				}
				time.Sleep(500 * time.Millisecond)
			}
			if before == 1 {
				stored++
				var old int64
				for q, c := range bySeq {
					if c == p.clientID {
						old = q
					}
				}
				if seq != old {
					t.Errorf("resend of %s, stored as %d before the crash, answered %d", p.clientID, old, seq)
				}
			}
		}
		if st := api(t, "GET", vpath2+"/messages?after=0", lm, nil, &got); st != 200 {
			t.Fatal(st)
		}
		byClient = map[string]int{}
		for i, m := range got.Messages {
			if m.Seq != int64(i+1) {
				t.Fatalf("after the resends, message %d has number %d", i+1, m.Seq)
			}
			byClient[m.ClientID]++
		}
		for _, p := range append(ackedPosts, lostPosts...) {
			if byClient[p.clientID] != 1 {
				t.Errorf("%s there %d times after the resends", p.clientID, byClient[p.clientID])
			}
		}
		t.Logf("%s: %d of the %d in flight had been stored before the kill; %d messages in all", t.Name(), stored, len(lostPosts), len(got.Messages))
		if len(got.Messages) != len(ackedPosts)+len(lostPosts) {
			t.Errorf("%d messages, want %d", len(got.Messages), len(ackedPosts)+len(lostPosts))
		}
	})
}
