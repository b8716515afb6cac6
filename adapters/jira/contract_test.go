package jira

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/adapters/contract"
	"github.com/issuemesh/issuemesh/adapters/jira/jirafake"
)

// profile is the fake's workflow: To Do -> In Progress -> (In Review) ->
// Done, so Done is two transitions from a new issue.
var profile = contract.Profile{
	OpenStatus: "In Progress", ClosedStatus: "Done", Priorities: [2]string{"Low", "High"},
	Labels: true, RejectsUnknownStatus: true, MissingKey: "PROJ-999999", Settle: 1100 * time.Millisecond,
}

func newOnFake(t testing.TB, f *jirafake.Jira, cloud bool, mod func(*Options)) *Tracker {
	t.Helper()
	o := Options{URL: f.Srv.URL, Project: f.Project, Settle: time.Second, Reconcile: -1}
	if cloud {
		o.Email, o.Token = "mia@example.com", "api-token"
	} else {
		o.PAT = "pat-token"
	}
	if mod != nil {
		mod(&o)
	}
	tr, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// fakeProfile is profile with the fake's people: Ann by her account ID on
// Cloud, by her user name on Data Center.
func fakeProfile(cloud bool) contract.Profile {
	p := profile
	ann := jirafake.Users[1]
	p.Fields = contract.FieldsProfile{User: adapters.User{Login: ann.Name, Email: ann.Email, Name: ann.Display}, Type: "Bug", CustomField: "Customer"}
	if cloud {
		p.Fields.User.Login = ann.AccountID
	}
	return p
}

// runOnFakes runs the contract suite on a fresh fake per test, which the
// profile's Throttle reaches through the tracker.
func runOnFakes(t *testing.T, cloud bool) {
	var mu sync.Mutex
	fakes := map[adapters.Tracker]*jirafake.Jira{}
	p := fakeProfile(cloud)
	p.Throttle = func(tr adapters.Tracker, n int) {
		mu.Lock()
		f := fakes[tr]
		mu.Unlock()
		f.Mu.Lock()
		f.Throttle = n
		f.Mu.Unlock()
	}
	contract.Run(t, func(t *testing.T) adapters.Tracker {
		f := jirafake.New(t)
		tr := newOnFake(t, f, cloud, nil)
		mu.Lock()
		fakes[tr] = f
		mu.Unlock()
		return tr
	}, p)
}

// TestContractCloud runs the contract suite on the fake's v3 API (ADF).
func TestContractCloud(t *testing.T) { runOnFakes(t, true) }

// TestContractDataCenter runs it on the fake's v2 API (wiki markup).
func TestContractDataCenter(t *testing.T) { runOnFakes(t, false) }

// TestContractLive runs the suite against a real Jira Cloud project.
func TestContractLive(t *testing.T) {
	url, email, token, project := os.Getenv("ISSUEMESH_JIRA_URL"), os.Getenv("ISSUEMESH_JIRA_EMAIL"), os.Getenv("ISSUEMESH_JIRA_TOKEN"), os.Getenv("ISSUEMESH_JIRA_PROJECT")
	if url == "" || email == "" || token == "" || project == "" {
		t.Skip("no real Jira: set ISSUEMESH_JIRA_URL, ISSUEMESH_JIRA_EMAIL, ISSUEMESH_JIRA_TOKEN and ISSUEMESH_JIRA_PROJECT (a scratch project whose workflow has the statuses of ISSUEMESH_JIRA_OPEN and ISSUEMESH_JIRA_CLOSED, default In Progress and Done, the issue type Bug, and a text custom field named by ISSUEMESH_JIRA_TEXT_FIELD, default Customer)")
	}
	p := profile
	p.MissingKey = project + "-999999"
	p.Settle = 10 * time.Second
	if s := os.Getenv("ISSUEMESH_JIRA_OPEN"); s != "" {
		p.OpenStatus = s
	}
	if s := os.Getenv("ISSUEMESH_JIRA_CLOSED"); s != "" {
		p.ClosedStatus = s
	}
	p.Priorities = [2]string{"Low", "High"}
	open := func(t *testing.T) adapters.Tracker {
		tr, err := New(Options{URL: url, Email: email, Token: token, Project: project, Settle: 10 * time.Second, RequestsPerMinute: 300})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		return tr
	}
	// The fields tests assign the token's own user, set the type Bug and
	// the text custom field ISSUEMESH_JIRA_TEXT_FIELD (default Customer).
	me, err := open(t).(*Tracker).myself(tctx(t))
	if err != nil {
		t.Fatal(err)
	}
	p.Fields = contract.FieldsProfile{User: adapters.User{Login: me.AccountID, Name: me.DisplayName}, Type: "Bug", CustomField: os.Getenv("ISSUEMESH_JIRA_TEXT_FIELD")}
	contract.Run(t, open, p)
}
