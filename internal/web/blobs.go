package web

import (
	"io"
	"mime"
	"net/http"
	"strconv"
)

// storedFile is an upload as stored: its blob, the type sniffed when it
// was taken, its name and size.
type storedFile struct {
	Key, ContentType, Name string
	Size                   int64
}

// serveStored answers a private upload (a visit's attachment, an
// application's document, a rectification's file): its sniffed type, never
// kept by shared caches, a PDF as a download (a browser's PDF viewer runs
// script), an image inline. The caller has checked who may see it and
// audited the read.
func (s *Server) serveStored(w http.ResponseWriter, r *http.Request, f storedFile) {
	body, err := s.blobs.Open(r.Context(), f.Key)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer body.Close()
	w.Header().Set("Content-Type", f.ContentType)
	w.Header().Set("Content-Length", strconv.FormatInt(f.Size, 10))
	w.Header().Set("Cache-Control", "private, no-store")
	disp := "inline"
	if f.ContentType == "application/pdf" {
		disp = "attachment"
	}
	w.Header().Set("Content-Disposition", mime.FormatMediaType(disp, map[string]string{"filename": f.Name}))
	io.Copy(w, body)
}
