package p2p

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// ProtoNetSync asks a network member for the events it holds of a network
// after the asker's per-author marks (catch-up; see package node).
const ProtoNetSync protocol.ID = "/issuemesh/netsync/1.0.0"

// NetTopic is the gossipsub topic of the network with that name (DESIGN 4).
func NetTopic(name string) string { return "/issuemesh/net/" + name + "/1" }

// QueueSize is the gossipsub queues' length (outgoing per peer, validation,
// and a subscription's buffer: use it with pubsub.WithBufferSize).
const QueueSize = 4096

// MaxPubSubMessage bounds one gossipsub message: a sync event frame
// (replica.DefaultMaxFrame) with room for the envelope.
const MaxPubSubMessage = 4<<20 + 64<<10

// Peer scoring: only invalid messages count (gossipsub's P4). A peer that
// forwards a message a topic validator rejects loses InvalidPenalty times
// the square of its count of such messages, decaying by InvalidDecay every
// second: a few rejects (a member's view of the membership lagging) cost
// little, but about five in a row put the peer below GraylistThreshold,
// where gossipsub ignores everything it sends. The other score components
// (time in mesh, deliveries, IP colocation) stay off: networks are small
// and quiet, and their members often share an address.
const (
	InvalidPenalty    = -100
	InvalidDecay      = 0.99
	GossipThreshold   = -500
	PublishThreshold  = -1000
	GraylistThreshold = -2500
)

// NetTopicScore is the score of a network's topic (Topic.SetScoreParams).
func NetTopicScore() *pubsub.TopicScoreParams {
	return &pubsub.TopicScoreParams{
		SkipAtomicValidation: true,
		TopicWeight:          1,
		// Unused (weight 0), but gossipsub divides by it.
		TimeInMeshQuantum:              time.Second,
		InvalidMessageDeliveriesWeight: InvalidPenalty,
		InvalidMessageDeliveriesDecay:  InvalidDecay,
	}
}

// NewPubSub starts gossipsub on h for the issuemesh networks: messages are
// signed and unsigned ones refused (strict signing, the library's default),
// a message's ID is the SHA-256 of its data so that the same event published
// twice (or by two routes) is delivered once, a publisher sends to every
// subscribed peer (flood publishing), only allowlisted peers take part, and
// peers that forward rejected messages are penalised (see InvalidPenalty).
// Each topic still needs a validator that admits only its members' events,
// and its score (NetTopicScore). It runs until ctx is done; opts are added
// (tests inspect scores with them).
func NewPubSub(ctx context.Context, h host.Host, a *Allowlist, log *slog.Logger, opts ...pubsub.Option) (*pubsub.PubSub, error) {
	return NewPubSubScored(ctx, h, a, nil, log, opts...)
}

// NewPubSubScored is NewPubSub with this node's own score of peers (nil:
// none) added to gossipsub's as the application-specific score, so that a
// peer penalised there (a forger) is ignored by gossipsub too.
func NewPubSubScored(ctx context.Context, h host.Host, a *Allowlist, pen *Penalties, log *slog.Logger, opts ...pubsub.Option) (*pubsub.PubSub, error) {
	score := &pubsub.PeerScoreParams{
		SkipAtomicValidation: true,
		Topics:               map[string]*pubsub.TopicScoreParams{},
		AppSpecificScore:     pen.Score,
		AppSpecificWeight:    1,
		DecayInterval:        time.Second,
		DecayToZero:          0.01,
		RetainScore:          10 * time.Minute,
	}
	thresholds := &pubsub.PeerScoreThresholds{
		SkipAtomicValidation: true,
		GossipThreshold:      GossipThreshold,
		PublishThreshold:     PublishThreshold,
		GraylistThreshold:    GraylistThreshold,
	}
	opts = append([]pubsub.Option{
		pubsub.WithPeerScore(score, thresholds),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithMessageIdFn(ContentID),
		// A network is small: an author's message goes to every member
		// subscribed, not only to its mesh (which forms only at the first
		// heartbeat after joining).
		pubsub.WithFloodPublish(true),
		pubsub.WithPeerFilter(func(id peer.ID, _ string) bool { return a.Has(id) }),
		pubsub.WithMaxMessageSize(MaxPubSubMessage),
		// Bursts (a bulk edit, a member's first share) must not be
		// dropped for full queues: 32 by default, which loses events at a
		// few hundred per second (catch-up repairs it, seconds later).
		pubsub.WithPeerOutboundQueueSize(QueueSize),
		pubsub.WithValidateQueueSize(QueueSize),
		pubsub.WithGossipSubParams(NetGossipParams()),
		pubsub.WithLogger(slog.New(minLevel{orDiscard(log).Handler(), slog.LevelInfo})),
	}, opts...)
	ps, err := pubsub.NewGossipSub(ctx, h, opts...)
	if err != nil {
		return nil, fmt.Errorf("start gossipsub: %w", err)
	}
	return ps, nil
}

// NetGossipParams are gossipsub's parameters for the issuemesh networks:
// the library's defaults with a smaller mesh (D 3 instead of 6, between 2
// and 4; Dlazy 3). A network is small and its author flood-publishes
// every event to every connected member, so mesh forwarding only serves
// members not connected to the author; with the default degree each
// member of a 10-member network received every event 7 to 8 times (one
// useful copy, the rest dropped as duplicates after decryption and
// decoding), which made the fan-out slower than a star of pairwise links.
// With D 3 it receives it about 3.4 times. Members that miss a message
// still get it by IHAVE/IWANT gossip or by catch-up (ProtoNetSync). Dout
// is 0 (it must stay below D/2): only allowlisted peers take part, so the
// eclipse attack it guards against does not apply.
func NetGossipParams() pubsub.GossipSubParams {
	p := pubsub.DefaultGossipSubParams()
	p.D, p.Dlo, p.Dhi = 3, 2, 4
	p.Dscore, p.Dout, p.Dlazy = 2, 0, 3
	return p
}

// ContentID is the message ID of a gossipsub message: the SHA-256 of its
// data, so that identical events deduplicate whoever publishes them.
func ContentID(m *pb.Message) string {
	sum := sha256.Sum256(m.GetData())
	return string(sum[:])
}

// minLevel passes on the records of at least level: gossipsub logs every
// message at debug.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.level && m.Handler.Enabled(ctx, l)
}

// Handle passes a record on, except that gossipsub's warning about a full
// queue of connection-manager tag bumps (harmless: the peer's score for
// the connection manager lags, under a burst) counts as debug.
func (m minLevel) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "error bumping delivery tag" {
		if slog.LevelDebug < m.level || !m.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	return m.Handler.Handle(ctx, r)
}

func (m minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{m.Handler.WithAttrs(as), m.level}
}

func (m minLevel) WithGroup(name string) slog.Handler {
	return minLevel{m.Handler.WithGroup(name), m.level}
}
