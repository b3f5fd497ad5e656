package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// full is a record with every field Event knows.
const full = `{"eventVersion":"1.09",` +
	`"userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:alice","arn":"arn:aws:sts::111122223333:assumed-role/Admin/alice","accountId":"111122223333","accessKeyId":"ASIAEXAMPLE","userName":"u","invokedBy":"cloudformation.amazonaws.com","identityProvider":"idp",` +
	`"sessionContext":{"attributes":{"creationDate":"2022-09-29T22:00:00Z","mfaAuthenticated":"true"},"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLE","arn":"arn:aws:iam::111122223333:role/Admin","accountId":"111122223333","userName":"Admin"},"sourceIdentity":"alice@example.com","webIdFederationData":{}},` +
	`"onBehalfOf":{"userId":"uid-1","identityStoreArn":"arn:aws:identitystore::111122223333:identitystore/d-1"}},` +
	`"eventTime":"2022-09-29T22:25:17Z","eventSource":"eks.amazonaws.com","eventName":"CreateCluster","awsRegion":"eu-west-1",` +
	`"sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.22.0","errorCode":"AccessDenied","errorMessage":"no",` +
	`"requestParameters":{"name":"prod","n":1},"responseElements":null,"requestID":"req-1","eventID":"ev-1","eventType":"AwsApiCall",` +
	`"readOnly":false,"recipientAccountId":"444455556666","sharedEventID":"sh-1","eventCategory":"Management",` +
	`"sessionCredentialFromConsole":"true","addendum":{"reason":"x"},"managementEvent":true,"tlsDetails":{"tlsVersion":"TLSv1.3"}}`

func fullEvent() *Event {
	f := false
	ev := &Event{
		EventVersion: "1.09",
		UserIdentity: Identity{
			Type: "AssumedRole", PrincipalID: "AROAEXAMPLE:alice", ARN: "arn:aws:sts::111122223333:assumed-role/Admin/alice",
			AccountID: "111122223333", AccessKeyID: "ASIAEXAMPLE", UserName: "u", InvokedBy: "cloudformation.amazonaws.com", IdentityProvider: "idp",
			SessionContext: &SessionContext{SourceIdentity: "alice@example.com"},
			OnBehalfOf: &struct {
				UserID           string `json:"userId"`
				IdentityStoreArn string `json:"identityStoreArn"`
			}{"uid-1", "arn:aws:identitystore::111122223333:identitystore/d-1"},
		},
		EventTime:          time.Date(2022, 9, 29, 22, 25, 17, 0, time.UTC),
		EventSource:        "eks.amazonaws.com",
		EventName:          "CreateCluster",
		AWSRegion:          "eu-west-1",
		SourceIPAddress:    "198.51.100.7",
		UserAgent:          "aws-cli/2.22.0",
		ErrorCode:          "AccessDenied",
		ErrorMessage:       "no",
		RequestParameters:  json.RawMessage(`{"name":"prod","n":1}`),
		ResponseElements:   json.RawMessage(`null`),
		RequestID:          "req-1",
		EventID:            "ev-1",
		EventType:          "AwsApiCall",
		ReadOnly:           &f,
		RecipientAccountID: "444455556666",
		SharedEventID:      "sh-1",
		EventCategory:      "Management",

		SessionCredentialFromConsole: "true",
		Addendum:                     json.RawMessage(`{"reason":"x"}`),
		Raw:                          json.RawMessage(full),
	}
	sc := ev.UserIdentity.SessionContext
	sc.Attributes.CreationDate = "2022-09-29T22:00:00Z"
	sc.Attributes.MFAAuthenticated = "true"
	sc.SessionIssuer.Type = "Role"
	sc.SessionIssuer.PrincipalID = "AROAEXAMPLE"
	sc.SessionIssuer.ARN = "arn:aws:iam::111122223333:role/Admin"
	sc.SessionIssuer.AccountID = "111122223333"
	sc.SessionIssuer.UserName = "Admin"
	return ev
}

var ignoreFields = cmpopts.IgnoreFields(Event{}, "Fields")

func TestDecodeRecordAllFields(t *testing.T) {
	ev, err := DecodeRecord([]byte(full))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fullEvent(), ev, ignoreFields); diff != "" {
		t.Errorf("DecodeRecord (-want +got):\n%s", diff)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(full), &m); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m, ev.Fields); diff != "" {
		t.Errorf("Fields (-want +got):\n%s", diff)
	}
	if ev.Fields["managementEvent"] != true || ev.Fields["requestParameters"].(map[string]any)["n"] != 1.0 {
		t.Errorf("Fields lack generic values: %v", ev.Fields)
	}
	if ev.Envelope != nil || ev.Index != 0 || ev.Origin != "" {
		t.Errorf("envelope/index/origin set on a plain record: %v %d %q", ev.Envelope, ev.Index, ev.Origin)
	}
	if got := ev.AccountID(); got != "444455556666" {
		t.Errorf("AccountID() = %q, want the recipient account", got)
	}
	if got := ev.Outcome(); got != Denied {
		t.Errorf("Outcome() = %q, want denied", got)
	}
}

// TestDecodeItem: Decode of a plain Item is DecodeRecord plus the index.
func TestDecodeItem(t *testing.T) {
	ev, err := Decode(&Item{Index: 7, Raw: []byte(full), Source: []byte("eks.amazonaws.com"), Name: []byte("CreateCluster")})
	if err != nil {
		t.Fatal(err)
	}
	want := fullEvent()
	want.Index = 7
	if diff := cmp.Diff(want, ev, ignoreFields); diff != "" {
		t.Errorf("Decode (-want +got):\n%s", diff)
	}
}

func minimal(extra string) string {
	return `{"eventVersion":"1.09","eventSource":"eks.amazonaws.com","eventName":"ListClusters"` + extra + `}`
}

func TestEventTime(t *testing.T) {
	want := time.Date(2022, 9, 29, 22, 25, 17, 0, time.UTC)
	tests := []struct {
		name, field string
		want        time.Time
		wantErr     bool
	}{
		{"RFC 3339", `"2022-09-29T22:25:17Z"`, want, false},
		{"space separated", `"2022-09-29 22:25:17"`, want, false},
		{"T without zone", `"2022-09-29T22:25:17"`, want, false},
		{"fractional seconds", `"2022-09-29T22:25:17.123Z"`, want.Add(123 * time.Millisecond), false},
		{"space with fraction", `"2022-09-29 22:25:17.5"`, want.Add(500 * time.Millisecond), false},
		{"offset", `"2022-09-30T00:25:17+02:00"`, want, false},
		// Panther test data writes this form (peer-tests/panther-analysis.jsonl).
		{"space separated with Z", `"2022-09-29 22:25:17Z"`, want, false},
		{"missing", ``, time.Time{}, false},
		{"null", `null`, time.Time{}, false},
		{"garbage", `"yesterday"`, time.Time{}, true},
		{"placeholder", `"..."`, time.Time{}, true},
		{"number", `1664490317`, time.Time{}, true},
		{"object", `{"t":1}`, time.Time{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			extra := ""
			if tc.field != "" {
				extra = `,"eventTime":` + tc.field
			}
			ev, err := DecodeRecord([]byte(minimal(extra)))
			if tc.wantErr {
				var de *DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("error = %v, want a *DecodeError", err)
				}
				if de.Field != "eventTime" {
					t.Errorf("DecodeError.Field = %q, want eventTime", de.Field)
				}
				if !strings.Contains(err.Error(), "eventTime") {
					t.Errorf("error %q does not name eventTime", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !ev.EventTime.Equal(tc.want) {
				t.Errorf("EventTime = %v, want %v", ev.EventTime, tc.want)
			}
			if !ev.EventTime.IsZero() && ev.EventTime.Location() != time.UTC {
				t.Errorf("EventTime is in %v, want UTC", ev.EventTime.Location())
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	for _, s := range []string{"", "2022-13-01T00:00:00Z", "2022-09-29", "22:25:17", "2022/09/29 22:25:17"} {
		if _, err := ParseTime(s); err == nil {
			t.Errorf("ParseTime(%q) succeeded", s)
		}
	}
	got, err := ParseTime("2022-09-29T22:25:17-07:00")
	if err != nil || !got.Equal(time.Date(2022, 9, 30, 5, 25, 17, 0, time.UTC)) || got.Location() != time.UTC {
		t.Errorf("ParseTime with an offset = %v, %v", got, err)
	}
}

func TestDecodeEnvelope(t *testing.T) {
	envOf := func(rec string, time string) string {
		return `{"version":"0","id":"env-1","detail-type":"AWS API Call via CloudTrail","source":"aws.eks","account":"999988887777",` +
			time + `"region":"ap-south-1","resources":[],"detail":` + rec + `}`
	}
	envTime := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	recTime := time.Date(2022, 9, 29, 22, 25, 17, 0, time.UTC)
	tests := []struct {
		name, rec, time string
		wantTime        time.Time
		wantRegion      string
		wantAccount     string
		wantErrField    string
	}{
		{"record has time and region", minimal(`,"eventTime":"2022-09-29T22:25:17Z","awsRegion":"eu-west-1","recipientAccountId":"111122223333"`), `"time":"2024-01-02T03:04:05Z",`, recTime, "eu-west-1", "111122223333", ""},
		{"time and region from the envelope", minimal(``), `"time":"2024-01-02T03:04:05Z",`, envTime, "ap-south-1", "999988887777", ""},
		{"envelope time in another form", minimal(``), `"time":"2024-01-02 03:04:05",`, envTime, "ap-south-1", "999988887777", ""},
		{"envelope without time", minimal(``), ``, time.Time{}, "ap-south-1", "999988887777", ""},
		{"account from userIdentity", minimal(`,"userIdentity":{"type":"Root","accountId":"222233334444"}`), ``, time.Time{}, "ap-south-1", "222233334444", ""},
		{"bad envelope time", minimal(``), `"time":"soon",`, time.Time{}, "", "", "time"},
		{"bad record time", minimal(`,"eventTime":"soon"`), `"time":"2024-01-02T03:04:05Z",`, time.Time{}, "", "", "eventTime"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := envOf(tc.rec, tc.time)
			items, err := split(t, raw, 0)
			if err != nil || len(items) != 1 || !items[0].Envelope {
				t.Fatalf("the test envelope does not split as one: %v %v", items, err)
			}
			it := &Item{Index: 3, Raw: []byte(raw), Envelope: true, Detail: []byte(tc.rec)}
			ev, err := Decode(it)
			if tc.wantErrField != "" {
				var de *DecodeError
				if !errors.As(err, &de) || de.Field != tc.wantErrField || de.Index != 3 {
					t.Fatalf("error = %#v, want a *DecodeError for field %s of record 3", err, tc.wantErrField)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !ev.EventTime.Equal(tc.wantTime) {
				t.Errorf("EventTime = %v, want %v", ev.EventTime, tc.wantTime)
			}
			if ev.AWSRegion != tc.wantRegion {
				t.Errorf("AWSRegion = %q, want %q", ev.AWSRegion, tc.wantRegion)
			}
			if got := ev.AccountID(); got != tc.wantAccount {
				t.Errorf("AccountID() = %q, want %q", got, tc.wantAccount)
			}
			wantEnv := &Envelope{ID: "env-1", DetailType: "AWS API Call via CloudTrail", Source: "aws.eks", Account: "999988887777", Region: "ap-south-1"}
			if tc.time != "" {
				wantEnv.Time = envTime
			}
			if diff := cmp.Diff(wantEnv, ev.Envelope); diff != "" {
				t.Errorf("Envelope (-want +got):\n%s", diff)
			}
			if string(ev.Raw) != raw {
				t.Errorf("Raw is not the envelope as it came")
			}
			if ev.Index != 3 {
				t.Errorf("Index = %d, want 3", ev.Index)
			}
			if _, ok := ev.Fields["detail"]; ok || ev.Fields["eventName"] != "ListClusters" {
				t.Errorf("Fields are not the record's: %v", ev.Fields)
			}
		})
	}
}

func TestDecodeEnvelopeErrors(t *testing.T) {
	for _, tc := range []struct{ name, raw string }{
		{"not JSON", `{"detail":`},
		{"time not a string", `{"detail-type":"x","time":5,"detail":` + minimal("") + `}`},
		{"detail not CloudTrail", `{"detail-type":"x","source":"aws.ec2","detail":{"state":"running"}}`},
		{"detail missing", `{"detail-type":"x","source":"aws.ec2"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(&Item{Index: 2, Raw: []byte(tc.raw), Envelope: true})
			var de *DecodeError
			if !errors.As(err, &de) || de.Index != 2 {
				t.Errorf("Decode = %v, want a *DecodeError for record 2", err)
			}
		})
	}
}

func TestReadOnly(t *testing.T) {
	tr, fa := true, false
	for _, tc := range []struct {
		name, field string
		want        *bool
	}{
		{"bool true", `true`, &tr},
		{"bool false", `false`, &fa},
		{"string true", `"true"`, &tr},
		{"string false", `"false"`, &fa},
		{"string TRUE", `"TRUE"`, &tr},
		{"string other", `"..."`, &fa},
		{"missing", ``, nil},
		{"null", `null`, nil},
		{"number", `1`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			extra := ""
			if tc.field != "" {
				extra = `,"readOnly":` + tc.field
			}
			ev, err := DecodeRecord([]byte(minimal(extra)))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, ev.ReadOnly); diff != "" {
				t.Errorf("ReadOnly (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFlex(t *testing.T) {
	for _, tc := range []struct {
		name, field, want string
	}{
		{"string", `"true"`, "true"},
		{"bool true", `true`, "true"},
		{"bool false", `false`, "false"},
		{"number", `42`, "42"},
		{"float", `1.5e3`, "1500"}, // a number is kept as its value's text
		{"null", `null`, ""},
		{"escaped string", `"t\u0072ue"`, "true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := DecodeRecord([]byte(minimal(`,"userIdentity":{"type":"AssumedRole","sessionContext":{"attributes":{"mfaAuthenticated":` + tc.field + `,"creationDate":` + tc.field + `}}}`)))
			if err != nil {
				t.Fatal(err)
			}
			a := ev.UserIdentity.SessionContext.Attributes
			if string(a.MFAAuthenticated) != tc.want || string(a.CreationDate) != tc.want {
				t.Errorf("mfaAuthenticated = %q, creationDate = %q, want %q", a.MFAAuthenticated, a.CreationDate, tc.want)
			}
		})
	}
}

// TestSessionCredentialFromConsoleBool: some exporters write
// sessionCredentialFromConsole as a JSON boolean (31 Panther test events in
// the shared corpus do); the record must still decode, as readOnly does.
func TestSessionCredentialFromConsoleBool(t *testing.T) {
	for _, tc := range []struct{ field, want string }{{`"true"`, "true"}, {`true`, "true"}, {`false`, "false"}} {
		ev, err := DecodeRecord([]byte(minimal(`,"sessionCredentialFromConsole":` + tc.field)))
		if err != nil {
			t.Errorf("sessionCredentialFromConsole %s: %v", tc.field, err)
			continue
		}
		if ev.SessionCredentialFromConsole != tc.want {
			t.Errorf("sessionCredentialFromConsole %s: got %q, want %q", tc.field, ev.SessionCredentialFromConsole, tc.want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name      string
		rec       string
		wantField string
		notCT     bool
	}{
		{"userIdentity a string", minimal(`,"userIdentity":"alice"`), "userIdentity", false},
		{"userIdentity an array", minimal(`,"userIdentity":[]`), "userIdentity", false},
		{"userIdentity.type a number", minimal(`,"userIdentity":{"type":5}`), "userIdentity.type", false},
		{"sessionIssuer.userName a bool", minimal(`,"userIdentity":{"sessionContext":{"sessionIssuer":{"userName":true}}}`), "userIdentity.sessionContext.sessionIssuer.userName", false},
		{"mfaAuthenticated an object", minimal(`,"userIdentity":{"sessionContext":{"attributes":{"mfaAuthenticated":{}}}}`), "userIdentity.sessionContext.attributes.mfaAuthenticated", false},
		{"eventName a number", `{"eventVersion":"1","eventSource":"s","eventName":5}`, "eventName", false},
		{"userAgent an array", minimal(`,"userAgent":["a"]`), "userAgent", false},
		{"errorCode an object", minimal(`,"errorCode":{}`), "errorCode", false},
		{"awsRegion a number", minimal(`,"awsRegion":1`), "awsRegion", false},
		{"eventTime a bool", minimal(`,"eventTime":true`), "eventTime", false},

		{"not JSON", `{"eventName":`, "", false},
		{"trailing garbage", minimal(``) + `x`, "", false},
		{"an array", `[` + minimal(``) + `]`, "", false},
		{"a string", `"x"`, "", false},
		{"empty", ``, "", false},

		{"catalogue metadata", meta, "", true},
		{"no eventName", `{"eventVersion":"1","eventSource":"s"}`, "", true},
		{"no eventSource", `{"eventVersion":"1","eventName":"n"}`, "", true},
		{"empty eventName", `{"eventVersion":"1","eventSource":"s","eventName":""}`, "", true},
		{"empty object", `{}`, "", true},
		{"insight event", `{"state":"Start","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","insightType":"ApiCallRateInsight"}`, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := DecodeRecord([]byte(tc.rec))
			if err == nil {
				t.Fatalf("DecodeRecord succeeded: %+v", ev)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v (%T) is not a *DecodeError", err, err)
			}
			if de.Field != tc.wantField {
				t.Errorf("DecodeError.Field = %q, want %q (%v)", de.Field, tc.wantField, err)
			}
			if tc.wantField != "" && !strings.Contains(err.Error(), "field "+tc.wantField+":") {
				t.Errorf("error %q does not name field %s", err, tc.wantField)
			}
			if errors.Is(err, ErrNotCloudTrail) != tc.notCT {
				t.Errorf("errors.Is(err, ErrNotCloudTrail) = %v, want %v", !tc.notCT, tc.notCT)
			}
			if !strings.HasPrefix(err.Error(), "record 0") {
				t.Errorf("error %q does not name the record", err)
			}
		})
	}
}

// TestCloudTrailMembers: eventSource and eventName make a record only with
// one of the members only CloudTrail records have.
func TestCloudTrailMembers(t *testing.T) {
	for _, m := range []string{`"userIdentity":{"type":"Root"}`, `"eventID":"x"`, `"eventTime":"2022-09-29T22:25:17Z"`, `"eventVersion":"1"`, `"eventType":"AwsApiCall"`, `"requestParameters":{}`, `"requestParameters":null`,
		`"awsRegion":"us-east-1"`, `"recipientAccountId":"111122223333"`, `"sourceIPAddress":"198.51.100.7"`, `"userAgent":"aws-cli/2"`,
		`"errorCode":"AccessDenied"`, `"responseElements":null`, `"additionalEventData":{}`} {
		rec := `{"eventSource":"s","eventName":"n",` + m + `}`
		if _, err := DecodeRecord([]byte(rec)); err != nil {
			t.Errorf("with %s: %v", m, err)
		}
		// The splitter routes the same records to the engine.
		it, err := NewSplitter(strings.NewReader(rec), 0).Next()
		if err != nil || string(it.Source) != "s" || string(it.Name) != "n" {
			t.Errorf("splitter with %s: source %q name %q err %v", m, it.Source, it.Name, err)
		}
	}
	// A peer tool's fixture: eventSource, eventName and two more fields.
	fixture := `{"eventSource":"secretsmanager.amazonaws.com","eventName":"GetSecretValue","awsRegion":"us-east-1","recipientAccountId":"012345678901"}`
	ev, err := DecodeRecord([]byte(fixture))
	if err != nil || ev.AccountID() != "012345678901" || ev.AWSRegion != "us-east-1" {
		t.Errorf("few-field fixture: %+v, %v", ev, err)
	}
}

func TestDecodeErrorMessage(t *testing.T) {
	inner := errors.New("inner")
	e := &DecodeError{Index: 4, Field: "eventTime", Err: inner}
	if e.Error() != "record 4: field eventTime: inner" || !errors.Is(e, inner) {
		t.Errorf("Error() = %q", e.Error())
	}
	e = &DecodeError{Index: 1, Err: inner}
	if e.Error() != "record 1: inner" {
		t.Errorf("Error() = %q", e.Error())
	}
}

func TestOutcome(t *testing.T) {
	for _, tc := range []struct {
		code   string
		want   Outcome
		denial bool
	}{
		{"", Success, false},
		{"AccessDenied", Denied, true},
		{"AccessDeniedException", Denied, true},
		{"UnauthorizedOperation", Denied, true},
		{"Client.UnauthorizedOperation", Denied, true},
		{"Client.AccessDenied", Denied, true},
		{"UnauthorizedAccess", Denied, true},
		{"UnauthorizedException", Denied, true},
		{"Forbidden", Denied, true},
		{"NotAuthorized", Denied, true},
		{"NotAuthorizedException", Denied, true},
		{"AuthorizationError", Denied, true},
		{"AuthFailure", Denied, true},
		{"ThrottlingException", Failed, false},
		{"Client.ThrottlingException", Failed, false},
		{"ResourceNotFoundException", Failed, false},
		{"InvalidParameterException", Failed, false},
		{"ResourceInUseException", Failed, false},
		{"ServiceUnavailable", Failed, false},
		{"InternalError", Failed, false},
		{"accessdenied", Failed, false},
		{"Server.AccessDenied", Failed, false},
	} {
		t.Run(tc.code, func(t *testing.T) {
			if got := OutcomeOf(tc.code); got != tc.want {
				t.Errorf("OutcomeOf(%q) = %q, want %q", tc.code, got, tc.want)
			}
			if got := IsDenial(tc.code); got != tc.denial {
				t.Errorf("IsDenial(%q) = %v, want %v", tc.code, got, tc.denial)
			}
			ev := &Event{ErrorCode: tc.code}
			if got := ev.Outcome(); got != tc.want {
				t.Errorf("Event.Outcome() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAccountID(t *testing.T) {
	for _, tc := range []struct {
		ev   Event
		want string
	}{
		{Event{RecipientAccountID: "1", UserIdentity: Identity{AccountID: "2"}, Envelope: &Envelope{Account: "3"}}, "1"},
		{Event{UserIdentity: Identity{AccountID: "2"}, Envelope: &Envelope{Account: "3"}}, "2"},
		{Event{Envelope: &Envelope{Account: "3"}}, "3"},
		{Event{}, ""},
	} {
		if got := tc.ev.AccountID(); got != tc.want {
			t.Errorf("AccountID() = %q, want %q", got, tc.want)
		}
	}
}

// TestRawByteForByte: Raw is the input exactly (white space, escapes, key
// order, duplicate keys) and a copy that later changes to the input do not
// reach.
func TestRawByteForByte(t *testing.T) {
	in := " {\n\t\"eventName\" : \"\\u0043reate\\/Cluster\",\r\n \"eventSource\":\"eks.amazonaws.com\", \"eventVersion\":\"1.09\",\n \"x\": 1.50E+2, \"x\": [ ] ,\"u\":\"é\\ud83d\\ude00\" }  "
	buf := []byte(in)
	ev, err := DecodeRecord(buf)
	if err != nil {
		t.Fatal(err)
	}
	if string(ev.Raw) != in {
		t.Errorf("Raw = %q, want the input %q", ev.Raw, in)
	}
	if ev.EventName != "Create/Cluster" {
		t.Errorf("EventName = %q, want the unescaped name", ev.EventName)
	}
	for i := range buf {
		buf[i] = 'X'
	}
	if string(ev.Raw) != in {
		t.Errorf("Raw changed with the caller's buffer")
	}

	// Decode of an item from the splitter keeps the bytes after the
	// splitter moves on.
	sp := NewSplitter(strings.NewReader(r3+"\n"+r1), 0)
	it, err := sp.Next()
	if err != nil {
		t.Fatal(err)
	}
	ev, err = Decode(&it)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Next(); err != nil {
		t.Fatal(err)
	}
	if string(ev.Raw) != r3 {
		t.Errorf("Raw = %q, want %q", ev.Raw, r3)
	}
	if ev.RequestParameters == nil || !json.Valid(ev.RequestParameters) {
		t.Errorf("RequestParameters = %q", ev.RequestParameters)
	}
	if ev.UserIdentity.UserName != `a"b\` {
		t.Errorf("userName = %q", ev.UserIdentity.UserName)
	}
}

// An envelope split from a stream is decoded in one pass of the plain-JSON
// parser (decodeEnvelope); an Item whose Detail is not a part of its Raw
// goes through encoding/json. Both give the same event, or an error for
// the same field of the same record.
func TestDecodeEnvelopeOnePassMatchesEncodingJSON(t *testing.T) {
	rec := minimal(`,"eventTime":"2022-09-29T22:25:17Z","awsRegion":"eu-west-1","requestParameters":{"name":"prod","list":{"items":[{"a":1.5e3},null,true]}},"responseElements":null`)
	for _, raw := range []string{
		`{"version":"0","id":"env-1","detail-type":"AWS API Call via CloudTrail","source":"aws.eks","account":"999988887777","time":"2024-01-02T03:04:05Z","region":"ap-south-1","resources":[],"detail":` + rec + `}`,
		`{"detail-type":"x","source":"aws.x","detail":` + minimal(``) + `}`,
		`{"detail-type":"x","id":null,"region":"\u0065u-north-1","account":"1\"2","detail":` + minimal(``) + `,"resources":[{"arn":"a]}"}]}`,
		`{"detail-type":"x","detail":{"eventSource":"a"},"detail":` + rec + `}`,
		`{"detail-type":"x","time":"2024-01-02 03:04:05","detail":` + minimal(`,"userIdentity":{"type":"Root","accountId":"222233334444"}`) + `}`,
		`{"detail-type":"x","id":5,"detail":` + rec + `}`,
		`{"detail-type":"x","region":["r"],"detail":` + rec + `}`,
		`{"detail-type":"x","time":"soon","detail":` + rec + `}`,
		`{"detail-type":"x","time":5,"detail":` + rec + `}`,
		`{"detail-type":"x","source":"aws.ec2","detail":{"state":"running"}}`,
		`{"detail-type":"x","detail":` + minimal(`,"eventTime":"soon"`) + `}`,
	} {
		sp := NewSplitter(strings.NewReader(raw), 0)
		it, err := sp.Next()
		if err != nil || !it.Envelope {
			t.Fatalf("%s: does not split as an envelope: %v", raw, err)
		}
		if _, ok, _ := decodeEnvelope(&it, bytes.Clone(it.Raw)); !ok {
			t.Errorf("%s: not decoded in one pass", raw)
		}
		it.Index = 4
		fast, ferr := Decode(&it)
		slow, serr := Decode(&Item{Index: 4, Raw: []byte(raw), Envelope: true, Detail: bytes.Clone(it.Detail)})
		if (ferr == nil) != (serr == nil) {
			t.Errorf("%s: one pass: %v; encoding/json: %v", raw, ferr, serr)
			continue
		}
		if ferr != nil {
			var fe, se *DecodeError
			if !errors.As(ferr, &fe) || !errors.As(serr, &se) || fe.Index != 4 || fe.Index != se.Index || (se.Field != "" && fe.Field != se.Field) {
				t.Errorf("%s: one pass: %#v; encoding/json: %#v", raw, ferr, serr)
			}
			continue
		}
		if diff := cmp.Diff(slow, fast); diff != "" {
			t.Errorf("%s: (-encoding/json +one pass):\n%s", raw, diff)
		}
		if string(fast.Raw) != raw {
			t.Errorf("%s: Raw is not the envelope as it came", raw)
		}
	}
}
