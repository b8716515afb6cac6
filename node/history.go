package node

import (
	"strings"

	"github.com/issuemesh/issuemesh/store"
)

// peerNamer returns a function that gives the name a link has in the peer
// list: a peer's name, or for "net:<network>/<author>" the author's name in
// place of its ID; "" when it has none.
func peerNamer(st *store.Store) func(link string) string {
	names := map[string]string{}
	_ = st.View(func(tx *store.Tx) error {
		peers, err := tx.Peers()
		for _, p := range peers {
			if p.Name != "" {
				names[p.ID] = p.Name
			}
		}
		return err
	})
	return func(link string) string {
		if name, ok := names[link]; ok {
			return name
		}
		if net, author, ok := strings.Cut(link, "/"); ok && strings.HasPrefix(net, "net:") {
			if name, ok := names[author]; ok {
				return net + "/" + name
			}
		}
		return ""
	}
}
