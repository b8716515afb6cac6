package store

// sizes are the Badger sizes that tests may replace (see the package doc
// for the choice).
type sizes struct {
	valueThreshold int64
	valueLogFile   int64
	memTable       int64
}

func (o Options) sizes() sizes {
	if o.test != nil {
		return *o.test
	}
	return sizes{valueThreshold: 64 << 10, valueLogFile: 16 << 20, memTable: 16 << 20}
}
