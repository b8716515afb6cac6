package jirafake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// User is a Jira user of the fake: AccountID on Cloud, Name on Data
// Center.
type User struct {
	AccountID, Name, Email, Display string
}

// Users of the fake; the first is the token's user (GET /myself).
var Users = []User{
	{AccountID: "5b10ac8d82e05b22cc7d4ef5", Name: "mia", Email: "mia@example.com", Display: "Mia Krystof"},
	{AccountID: "5b10a2844c20165700ede21g", Name: "ann", Email: "ann@example.com", Display: "Ann Lee"},
	{AccountID: "5b109f2e9729b51b54dc274d", Name: "bob", Email: "bob@example.com", Display: "Bob Stone"},
}

// Link is an issue link: it starts at From and leads to To.
type Link struct {
	ID, Type, From, To string
}

// linkTypes are Jira's default link types: name -> inward, outward
// (https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-link-types/#api-rest-api-3-issuelinktype-get).
var linkTypes = map[string][2]string{
	"Blocks":    {"is blocked by", "blocks"},
	"Relates":   {"relates to", "relates to"},
	"Duplicate": {"is duplicated by", "duplicates"},
	"Cloners":   {"is cloned by", "clones"},
}

var linkTypeIDs = map[string]string{"Blocks": "10000", "Cloners": "10001", "Duplicate": "10002", "Relates": "10003"}

// field is a field of GET /field
// (https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-fields/#api-rest-api-3-field-get).
type field struct {
	ID, Name, Name2 string // Name2: the Data Center name, when it differs
	Custom          string // the custom type, after "com.atlassian.jira.plugin.system.customfieldtypes:"
	Type, Items     string
	Options         []string
}

var fieldDefs = []field{
	{ID: "summary", Name: "Summary", Type: "string"},
	{ID: "components", Name: "Components", Name2: "Component/s", Type: "array", Items: "component"},
	{ID: "fixVersions", Name: "Fix versions", Name2: "Fix Version/s", Type: "array", Items: "version"},
	{ID: "versions", Name: "Affects versions", Name2: "Affects Version/s", Type: "array", Items: "version"},
	{ID: "customfield_10019", Name: "Rank", Custom: "com.pyxis.greenhopper.jira:gh-lexo-rank", Type: "any"},
	{ID: "customfield_10050", Name: "Customer", Custom: "textfield", Type: "string"},
	{ID: "customfield_10051", Name: "Tier", Custom: "select", Type: "option", Options: []string{"Gold", "Silver"}},
	{ID: "customfield_10052", Name: "Effort", Custom: "float", Type: "number"},
	{ID: "customfield_10053", Name: "Shipped", Custom: "datepicker", Type: "date"},
	{ID: "customfield_10054", Name: "Platforms", Custom: "multiselect", Type: "array", Items: "option", Options: []string{"linux", "mac", "windows"}},
	{ID: "customfield_10055", Name: "Reviewer", Custom: "userpicker", Type: "user"},
	{ID: "customfield_10056", Name: "Notes", Custom: "textarea", Type: "string"},
}

// Components and Versions of project PROJ.
var (
	Components = []string{"Backend", "Frontend"}
	Versions   = []string{"1.0", "2.0"}
	IssueTypes = []string{"Task", "Bug", "Story", "Epic", "Sub-task"}
)

func (fd field) json(v string) map[string]any {
	name := fd.Name
	if v == "2" && fd.Name2 != "" {
		name = fd.Name2
	}
	schema := map[string]any{"type": fd.Type}
	if fd.Items != "" {
		schema["items"] = fd.Items
	}
	custom := strings.HasPrefix(fd.ID, "customfield_")
	out := map[string]any{"id": fd.ID, "key": fd.ID, "name": name, "custom": custom, "schema": schema,
		"clauseNames": []string{fd.ID}, "navigable": true, "orderable": true, "searchable": true}
	if custom {
		c := fd.Custom
		if !strings.Contains(c, ":") {
			c = "com.atlassian.jira.plugin.system.customfieldtypes:" + c
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(fd.ID, "customfield_"))
		schema["custom"], schema["customId"] = c, n
		out["clauseNames"] = []string{fmt.Sprintf("cf[%d]", n), name}
	} else {
		schema["system"] = fd.ID
	}
	return out
}

func (f *Jira) fieldsList(w http.ResponseWriter, v string) {
	var out []any
	for _, fd := range fieldDefs {
		out = append(out, fd.json(v))
	}
	reply(w, 200, out)
}

func (f *Jira) userJSON(u User, v string) map[string]any {
	m := map[string]any{"displayName": u.Display, "emailAddress": u.Email, "active": true, "timeZone": f.TZ.String()}
	if v == "2" {
		m["name"], m["key"] = u.Name, "JIRAUSER"+u.Name
	} else {
		m["accountId"], m["accountType"] = u.AccountID, "atlassian"
	}
	return m
}

// findUser is the user a reference names: {"accountId"} on v3, {"name"}
// on v2.
func findUser(v string, raw json.RawMessage) (User, bool) {
	var ref struct {
		AccountID string `json:"accountId"`
		Name      string `json:"name"`
	}
	if json.Unmarshal(raw, &ref) != nil {
		return User{}, false
	}
	for _, u := range Users {
		if (v == "3" && ref.AccountID != "" && ref.AccountID == u.AccountID) || (v == "2" && ref.Name != "" && ref.Name == u.Name) {
			return u, true
		}
	}
	return User{}, false
}

func userByID(id string) (User, bool) {
	for _, u := range Users {
		if u.AccountID == id {
			return u, true
		}
	}
	return User{}, false
}

// userSearch: GET /user/search, by query (Cloud: display name or email,
// a prefix), accountId (Cloud) or username (Data Center: name, email or
// display name).
// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-user-search/#api-rest-api-3-user-search-get
// https://docs.atlassian.com/software/jira/docs/api/REST/9.12.0/#api/2/user-findUsers
func (f *Jira) userSearch(w http.ResponseWriter, r *http.Request, v string) {
	q := r.URL.Query()
	var out []any
	for _, u := range Users {
		match := false
		switch {
		case v == "3" && q.Get("accountId") != "":
			match = q.Get("accountId") == u.AccountID
		case v == "3" && q.Get("query") != "":
			s := strings.ToLower(q.Get("query"))
			match = strings.HasPrefix(strings.ToLower(u.Display), s) || strings.HasPrefix(strings.ToLower(u.Email), s)
		case v == "2" && q.Get("username") != "":
			s := strings.ToLower(q.Get("username"))
			match = strings.HasPrefix(u.Name, s) || strings.HasPrefix(strings.ToLower(u.Email), s) || strings.HasPrefix(strings.ToLower(u.Display), s)
		default:
			f.fail(w, 400, "The query parameter 'query' or 'accountId' is required.")
			return
		}
		if match {
			out = append(out, f.userJSON(u, v))
		}
	}
	if out == nil {
		out = []any{}
	}
	reply(w, 200, out)
}

var reDate = regexp.MustCompile(`^\d{4}-\d\d-\d\d$`)

// setField applies one field of a create or edit body to is; it returns
// the message Jira would give for a bad value ("" when fine).
func (f *Jira) setField(is *Issue, v, k string, raw json.RawMessage) string {
	null := len(raw) == 0 || string(raw) == "null"
	switch k {
	case "project":
		return ""
	case "summary":
		if json.Unmarshal(raw, &is.Summary) != nil || strings.TrimSpace(is.Summary) == "" {
			return "You must specify a summary of the issue."
		}
	case "description":
		if err := f.checkBody(v, raw); err != nil {
			return err.Error()
		}
		is.Description = raw
	case "priority":
		var p named
		json.Unmarshal(raw, &p)
		if !slices.Contains(f.prios, p.Name) {
			return "Specify a valid priority"
		}
		is.Priority = p.Name
	case "labels":
		is.Labels = nil
		json.Unmarshal(raw, &is.Labels)
	case "issuetype":
		var t named
		json.Unmarshal(raw, &t)
		if !slices.Contains(IssueTypes, t.Name) {
			return "valid issue type is required"
		}
		is.Type = t.Name
	case "assignee", "reporter":
		if k == "reporter" && slices.Contains(f.Denied, "MODIFY_REPORTER") {
			return "Field 'reporter' cannot be set. It is not on the appropriate screen, or unknown."
		}
		id := ""
		if !null {
			u, ok := findUser(v, raw)
			if !ok {
				return "User '" + string(raw) + "' does not exist."
			}
			id = u.AccountID
		} else if k == "reporter" {
			return "Reporter is required."
		}
		if k == "assignee" {
			is.Assignee = id
		} else {
			is.Reporter = id
		}
	case "duedate":
		is.Due = ""
		if !null {
			if json.Unmarshal(raw, &is.Due) != nil || !reDate.MatchString(is.Due) {
				return "Error parsing date string: " + string(raw)
			}
		}
	case "components", "fixVersions", "versions":
		var list []named
		if json.Unmarshal(raw, &list) != nil && !null {
			return "expected an array of objects with a name"
		}
		allowed, names := Components, []string{}
		if k != "components" {
			allowed = Versions
		}
		for _, n := range list {
			if !slices.Contains(allowed, n.Name) {
				if k == "components" {
					return "Component name '" + n.Name + "' is not valid"
				}
				return "Version name '" + n.Name + "' is not valid"
			}
			names = append(names, n.Name)
		}
		is.Sys[k] = names
	case "parent":
		is.Parent = ""
		if !null {
			var ref struct{ Key string }
			json.Unmarshal(raw, &ref)
			p := f.Issues[ref.Key]
			if p == nil || p == is {
				return "Could not find issue by id or key."
			}
			is.Parent = ref.Key
		}
	default:
		var fd *field
		for i := range fieldDefs {
			if fieldDefs[i].ID == k && fieldDefs[i].Custom != "" {
				fd = &fieldDefs[i]
			}
		}
		if fd == nil || fd.ID == "customfield_10019" {
			return "Field '" + k + "' cannot be set. It is not on the appropriate screen, or unknown."
		}
		if null {
			delete(is.Custom, k)
			return ""
		}
		if msg := f.checkCustom(*fd, v, raw); msg != "" {
			return msg
		}
		if fd.Custom == "userpicker" {
			u, _ := findUser(v, raw)
			raw, _ = json.Marshal(u.AccountID)
		}
		is.Custom[k] = raw
	}
	return ""
}

// checkCustom checks a custom field's value against its type
// (https://developer.atlassian.com/server/jira/platform/jira-rest-api-examples/#creating-an-issue-using-custom-fields).
func (f *Jira) checkCustom(fd field, v string, raw json.RawMessage) string {
	bad := fmt.Sprintf("Field %s (%s): the value %s is not valid for a %s field", fd.ID, fd.Name, raw, fd.Custom)
	switch fd.Custom {
	case "textfield":
		var s string
		if json.Unmarshal(raw, &s) != nil || len(s) > 255 {
			return bad
		}
	case "textarea":
		if err := f.checkBody(v, raw); err != nil {
			return bad + ": " + err.Error()
		}
	case "float":
		var n float64
		if json.Unmarshal(raw, &n) != nil {
			return bad
		}
	case "datepicker":
		var s string
		if json.Unmarshal(raw, &s) != nil || !reDate.MatchString(s) {
			return bad
		}
	case "select":
		var o struct{ Value string }
		if json.Unmarshal(raw, &o) != nil || !slices.Contains(fd.Options, o.Value) {
			return bad
		}
	case "multiselect":
		var list []struct{ Value string }
		if json.Unmarshal(raw, &list) != nil {
			return bad
		}
		for _, o := range list {
			if !slices.Contains(fd.Options, o.Value) {
				return bad
			}
		}
	case "userpicker":
		if _, ok := findUser(v, raw); !ok {
			return bad
		}
	}
	return ""
}

// fieldsJSON adds the fields of issue 16 to a wire issue's fields.
func (f *Jira) fieldsJSON(is *Issue, v string, out map[string]any) {
	level := map[string]int{"Epic": 1, "Sub-task": -1}[is.Type]
	out["issuetype"] = map[string]any{"name": is.Type, "subtask": is.Type == "Sub-task", "hierarchyLevel": level}
	for k, id := range map[string]string{"assignee": is.Assignee, "reporter": is.Reporter} {
		out[k] = nil
		if u, ok := userByID(id); ok {
			out[k] = f.userJSON(u, v)
		}
	}
	out["duedate"] = nil
	if is.Due != "" {
		out["duedate"] = is.Due
	}
	for _, k := range []string{"components", "fixVersions", "versions"} {
		list := []any{}
		for i, n := range is.Sys[k] {
			list = append(list, map[string]string{"id": strconv.Itoa(10000 + i), "name": n})
		}
		out[k] = list
	}
	for _, fd := range fieldDefs {
		if fd.Custom == "" || fd.ID == "customfield_10019" {
			continue
		}
		raw, ok := is.Custom[fd.ID]
		if !ok {
			out[fd.ID] = nil
			continue
		}
		if fd.Custom == "userpicker" {
			var id string
			json.Unmarshal(raw, &id)
			u, _ := userByID(id)
			out[fd.ID] = f.userJSON(u, v)
			continue
		}
		out[fd.ID] = raw
	}
	out["customfield_10019"] = "0|i0000" + is.ID + ":"
	ref := func(key string) map[string]any {
		o := f.Issues[key]
		m := map[string]any{"key": key}
		if o != nil {
			m["id"] = o.ID
			m["fields"] = map[string]any{"summary": o.Summary, "status": map[string]string{"name": o.Status}}
		}
		return m
	}
	out["parent"] = nil
	if is.Parent != "" {
		out["parent"] = ref(is.Parent)
	}
	subs := []any{}
	for _, k := range f.sortedKeys() {
		if f.Issues[k].Parent == is.Key && f.Issues[k].Type == "Sub-task" {
			subs = append(subs, ref(k))
		}
	}
	out["subtasks"] = subs
	links := []any{}
	for _, l := range f.sortedLinks() {
		t := linkTypes[l.Type]
		lt := map[string]string{"id": linkTypeIDs[l.Type], "name": l.Type, "inward": t[0], "outward": t[1]}
		switch is.Key {
		case l.From:
			links = append(links, map[string]any{"id": l.ID, "type": lt, "outwardIssue": ref(l.To)})
		case l.To:
			links = append(links, map[string]any{"id": l.ID, "type": lt, "inwardIssue": ref(l.From)})
		}
	}
	out["issuelinks"] = links
}

func (f *Jira) sortedKeys() []string {
	var ks []string
	for k := range f.Issues {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b string) int { return strings.Compare(f.Issues[a].ID, f.Issues[b].ID) })
	return ks
}

func (f *Jira) sortedLinks() []*Link {
	var ls []*Link
	for _, l := range f.Links {
		ls = append(ls, l)
	}
	slices.SortFunc(ls, func(a, b *Link) int { return strings.Compare(a.ID, b.ID) })
	return ls
}

// createLink: POST /issueLink; the link starts at outwardIssue and leads
// to inwardIssue.
// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-links/#api-rest-api-3-issuelink-post
func (f *Jira) createLink(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Type         named `json:"type"`
		InwardIssue  struct{ Key string }
		OutwardIssue struct{ Key string }
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		f.fail(w, 400, err.Error())
		return
	}
	if _, ok := linkTypes[req.Type.Name]; !ok {
		f.fail(w, 404, "No issue link type with name '"+req.Type.Name+"' found.")
		return
	}
	from, to := f.Issues[req.OutwardIssue.Key], f.Issues[req.InwardIssue.Key]
	if from == nil || to == nil {
		f.fail(w, 404, "Issue does not exist or you do not have permission to see it.")
		return
	}
	for _, l := range f.Links {
		if l.Type == req.Type.Name && l.From == from.Key && l.To == to.Key {
			w.WriteHeader(201) // Jira keeps one link of a type between two issues
			return
		}
	}
	f.cseq++
	id := strconv.Itoa(40000 + f.cseq)
	f.Links[id] = &Link{ID: id, Type: req.Type.Name, From: from.Key, To: to.Key}
	f.touch(from)
	f.touch(to)
	w.WriteHeader(201)
}

// deleteLink: DELETE /issueLink/{id}.
// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-links/#api-rest-api-3-issuelink-linkid-delete
func (f *Jira) deleteLink(w http.ResponseWriter, id string) {
	l := f.Links[id]
	if l == nil {
		f.fail(w, 404, "No issue link with id '"+id+"' exists.")
		return
	}
	delete(f.Links, id)
	for _, k := range []string{l.From, l.To} {
		if is := f.Issues[k]; is != nil {
			f.touch(is)
		}
	}
	w.WriteHeader(204)
}

// deleteAttachment: DELETE /attachment/{id}.
// https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-attachments/#api-rest-api-3-attachment-id-delete
func (f *Jira) deleteAttachment(w http.ResponseWriter, id string) {
	for _, is := range f.Issues {
		for i, a := range is.Files {
			if a.ID == id {
				is.Files = slices.Delete(is.Files, i, i+1)
				f.touch(is)
				w.WriteHeader(204)
				return
			}
		}
	}
	f.fail(w, 404, "The attachment with id '"+id+"' does not exist")
}

// ShapeDiff lists where got lacks the shape of doc (a body of Atlassian's
// reference): each key of an object in doc that got lacks, or holds a
// value of another JSON type; arrays compare their first elements. It
// says nothing of what got has beyond doc.
func ShapeDiff(doc, got any) []string { return shapeDiff("", doc, got) }

func shapeDiff(path string, doc, got any) []string {
	kind := func(v any) string {
		switch v.(type) {
		case map[string]any:
			return "object"
		case []any:
			return "array"
		case string:
			return "string"
		case float64:
			return "number"
		case bool:
			return "boolean"
		case nil:
			return "null"
		}
		return fmt.Sprintf("%T", v)
	}
	if kind(doc) != kind(got) {
		return []string{fmt.Sprintf("%s: %s in the reference, %s here", path, kind(doc), kind(got))}
	}
	var out []string
	switch d := doc.(type) {
	case map[string]any:
		g := got.(map[string]any)
		keys := make([]string, 0, len(d))
		for k := range d {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			gv, ok := g[k]
			if !ok {
				out = append(out, path+"."+k+": missing here")
				continue
			}
			out = append(out, shapeDiff(path+"."+k, d[k], gv)...)
		}
	case []any:
		g := got.([]any)
		if len(d) > 0 && len(g) > 0 {
			out = append(out, shapeDiff(path+"[0]", d[0], g[0])...)
		}
	}
	return out
}
