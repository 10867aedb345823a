package sqlstore

// SetWALBound lets the store's tests lower the WAL size a bulk write
// checkpoints at; the returned function puts it back.
func SetWALBound(n int64) (restore func()) {
	old := walBound
	walBound = n
	return func() { walBound = old }
}
