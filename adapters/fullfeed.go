package adapters

// FullFeed is what a tracker offers whose Changes returns every issue as
// Get returns it (comments, attachments and twin marker included). The sync
// engine then shares the issue the change feed returned without reading it
// again; for other trackers it reads each changed issue once.
type FullFeed interface {
	// ChangesAreFull reports whether Changes returns whole issues.
	ChangesAreFull() bool
}
