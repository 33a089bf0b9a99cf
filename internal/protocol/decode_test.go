package protocol

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// jsonFrame builds a frame from a map so that long or unusual strings are
// escaped correctly.
func jsonFrame(t *testing.T, fields map[string]any) string {
	t.Helper()
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatalf("marshal test frame: %v", err)
	}
	return string(b)
}

func ptr[T any](v T) *T { return &v }

func TestDecodeRequest(t *testing.T) {
	join := func(room, name string) string {
		return jsonFrame(t, map[string]any{"type": "join", "room": room, "name": name})
	}
	chat := func(text string) string {
		return jsonFrame(t, map[string]any{"type": "chat", "text": text})
	}
	name64 := strings.Repeat("é", 64)

	tests := []struct {
		name  string
		frame string
		// want is the decoded message when the frame is valid.
		want any
		// code is the error code when it is not.
		code Code
		// msgHas are substrings the error message must contain.
		msgHas []string
	}{
		// Frames that are not a JSON object with a string type.
		{name: "empty frame", frame: ``, code: CodeBadRequest},
		{name: "whitespace only", frame: " \n\t", code: CodeBadRequest},
		{name: "not JSON", frame: `hello`, code: CodeBadRequest},
		{name: "truncated object", frame: `{"type":"leave"`, code: CodeBadRequest},
		{name: "trailing garbage", frame: `{"type":"leave"} x`, code: CodeBadRequest},
		{name: "two objects", frame: `{"type":"leave"}{"type":"leave"}`, code: CodeBadRequest},
		{name: "JSON array", frame: `[{"type":"leave"}]`, code: CodeBadRequest},
		{name: "JSON string", frame: `"leave"`, code: CodeBadRequest},
		{name: "JSON number", frame: `42`, code: CodeBadRequest},
		{name: "JSON null", frame: `null`, code: CodeBadRequest},
		{name: "JSON true", frame: `true`, code: CodeBadRequest},
		{name: "missing type", frame: `{"room":"a","name":"b"}`, code: CodeBadRequest, msgHas: []string{`"type"`}},
		{name: "type key is case-sensitive", frame: `{"Type":"leave"}`, code: CodeBadRequest, msgHas: []string{`"type"`}},
		{name: "type number", frame: `{"type":1}`, code: CodeBadRequest, msgHas: []string{`"type"`}},
		{name: "type null", frame: `{"type":null}`, code: CodeBadRequest, msgHas: []string{`"type"`}},
		{name: "type bool", frame: `{"type":true}`, code: CodeBadRequest, msgHas: []string{`"type"`}},
		{name: "type object", frame: `{"type":{"name":"join"}}`, code: CodeBadRequest, msgHas: []string{`"type"`}},
		{name: "type array", frame: `{"type":["join"]}`, code: CodeBadRequest, msgHas: []string{`"type"`}},

		// Unknown types, including server-only ones.
		{name: "unknown type", frame: `{"type":"dance"}`, code: CodeUnknownType},
		{name: "empty type", frame: `{"type":""}`, code: CodeUnknownType},
		{name: "type is case-sensitive", frame: `{"type":"JOIN","room":"a","name":"b"}`, code: CodeUnknownType},
		{name: "server-only joined", frame: `{"type":"joined","room":"a"}`, code: CodeUnknownType},
		{name: "server-only participant-joined", frame: `{"type":"participant-joined"}`, code: CodeUnknownType},
		{name: "server-only participant-left", frame: `{"type":"participant-left"}`, code: CodeUnknownType},
		{name: "server-only track-published", frame: `{"type":"track-published"}`, code: CodeUnknownType},
		{name: "server-only track-unpublished", frame: `{"type":"track-unpublished"}`, code: CodeUnknownType},
		{name: "server-only track-muted", frame: `{"type":"track-muted"}`, code: CodeUnknownType},
		{name: "server-only error", frame: `{"type":"error","code":"internal"}`, code: CodeUnknownType},
		// Unknown type wins over bad fields: the type is checked first.
		{name: "unknown type with bad fields", frame: `{"type":"joined","room":5}`, code: CodeUnknownType},

		// join
		{name: "join valid", frame: `{"type":"join","room":"Room_1.a-b","name":"Alice"}`,
			want: &Join{Type: "join", Room: "Room_1.a-b", Name: "Alice"}},
		{name: "join with token", frame: `{"type":"join","room":"r","name":"n","token":"tok"}`,
			want: &Join{Type: "join", Room: "r", Name: "n", Token: "tok"}},
		{name: "join leading whitespace", frame: " \r\n\t" + `{"type":"join","room":"r","name":"n"}`,
			want: &Join{Type: "join", Room: "r", Name: "n"}},
		{name: "join room 0 chars", frame: join("", "n"), code: CodeBadRequest, msgHas: []string{"room"}},
		{name: "join room 1 char", frame: join("r", "n"), want: &Join{Type: "join", Room: "r", Name: "n"}},
		{name: "join room 64 chars", frame: join(strings.Repeat("r", 64), "n"),
			want: &Join{Type: "join", Room: strings.Repeat("r", 64), Name: "n"}},
		{name: "join room 65 chars", frame: join(strings.Repeat("r", 65), "n"), code: CodeBadRequest, msgHas: []string{"room"}},
		{name: "join room with space", frame: join("my room", "n"), code: CodeBadRequest, msgHas: []string{"room"}},
		{name: "join room with slash", frame: join("a/b", "n"), code: CodeBadRequest, msgHas: []string{"room"}},
		{name: "join room with colon", frame: join("a:b", "n"), code: CodeBadRequest, msgHas: []string{"room"}},
		{name: "join room with non-ASCII letter", frame: join("café", "n"), code: CodeBadRequest, msgHas: []string{"room"}},
		{name: "join room with NUL", frame: join("a\x00b", "n"), code: CodeBadRequest, msgHas: []string{"room"}},
		{name: "join room missing", frame: `{"type":"join","name":"n"}`, code: CodeBadRequest, msgHas: []string{"room"}},
		{name: "join room null", frame: `{"type":"join","room":null,"name":"n"}`, code: CodeBadRequest, msgHas: []string{"room"}},
		{name: "join room number", frame: `{"type":"join","room":5,"name":"n"}`, code: CodeBadRequest, msgHas: []string{`"room"`, "string"}},
		{name: "join room array", frame: `{"type":"join","room":["r"],"name":"n"}`, code: CodeBadRequest, msgHas: []string{`"room"`}},
		{name: "join name 0 chars", frame: join("r", ""), code: CodeBadRequest, msgHas: []string{"name"}},
		{name: "join name 1 char", frame: join("r", "n"), want: &Join{Type: "join", Room: "r", Name: "n"}},
		{name: "join name 64 ASCII", frame: join("r", strings.Repeat("n", 64)),
			want: &Join{Type: "join", Room: "r", Name: strings.Repeat("n", 64)}},
		{name: "join name 65 ASCII", frame: join("r", strings.Repeat("n", 65)), code: CodeBadRequest, msgHas: []string{"name"}},
		{name: "join name 64 two-byte code points", frame: join("r", name64),
			want: &Join{Type: "join", Room: "r", Name: name64}},
		{name: "join name 65 two-byte code points", frame: join("r", name64+"é"), code: CodeBadRequest, msgHas: []string{"name"}},
		{name: "join name 64 four-byte code points", frame: join("r", strings.Repeat("😀", 64)),
			want: &Join{Type: "join", Room: "r", Name: strings.Repeat("😀", 64)}},
		{name: "join name 65 four-byte code points", frame: join("r", strings.Repeat("😀", 65)), code: CodeBadRequest, msgHas: []string{"name"}},
		{name: "join name with space", frame: join("r", "Ada Lovelace"), want: &Join{Type: "join", Room: "r", Name: "Ada Lovelace"}},
		{name: "join name with BEL", frame: join("r", "a\x07b"), code: CodeBadRequest, msgHas: []string{"name"}},
		{name: "join name with newline", frame: join("r", "a\nb"), code: CodeBadRequest, msgHas: []string{"name"}},
		{name: "join name with tab", frame: join("r", "a\tb"), code: CodeBadRequest, msgHas: []string{"name"}},
		{name: "join name with DEL", frame: join("r", "a\x7fb"), code: CodeBadRequest, msgHas: []string{"name"}},
		{name: "join name with C1 control", frame: join("r", "a\u0085b"), code: CodeBadRequest, msgHas: []string{"name"}},
		{name: "join name missing", frame: `{"type":"join","room":"r"}`, code: CodeBadRequest, msgHas: []string{"name"}},
		{name: "join name number", frame: `{"type":"join","room":"r","name":7}`, code: CodeBadRequest, msgHas: []string{`"name"`, "string"}},
		{name: "join name object", frame: `{"type":"join","room":"r","name":{}}`, code: CodeBadRequest, msgHas: []string{`"name"`}},
		{name: "join token number", frame: `{"type":"join","room":"r","name":"n","token":1}`, code: CodeBadRequest, msgHas: []string{`"token"`}},
		{name: "join unknown field ignored", frame: `{"type":"join","room":"r","name":"n","color":"blue"}`,
			want: &Join{Type: "join", Room: "r", Name: "n"}},

		// offer / answer
		{name: "offer valid", frame: `{"type":"offer","sdp":"v=0\r\n"}`,
			want: &SessionDescription{Type: "offer", SDP: "v=0\r\n"}},
		{name: "answer valid", frame: `{"type":"answer","sdp":"v=0\r\n"}`,
			want: &SessionDescription{Type: "answer", SDP: "v=0\r\n"}},
		{name: "offer missing sdp", frame: `{"type":"offer"}`, code: CodeBadRequest, msgHas: []string{"sdp"}},
		{name: "answer missing sdp", frame: `{"type":"answer"}`, code: CodeBadRequest, msgHas: []string{"sdp"}},
		{name: "offer empty sdp", frame: `{"type":"offer","sdp":""}`, code: CodeBadRequest, msgHas: []string{"sdp"}},
		{name: "offer null sdp", frame: `{"type":"offer","sdp":null}`, code: CodeBadRequest, msgHas: []string{"sdp"}},
		{name: "offer sdp number", frame: `{"type":"offer","sdp":1}`, code: CodeBadRequest, msgHas: []string{`"sdp"`, "string"}},
		{name: "answer sdp object", frame: `{"type":"answer","sdp":{"sdp":"v=0"}}`, code: CodeBadRequest, msgHas: []string{`"sdp"`}},

		// candidate
		{name: "candidate full", frame: `{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}}`,
			want: &Candidate{Type: "candidate", Candidate: &ICECandidate{
				Candidate:        "candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host",
				SDPMid:           ptr("0"),
				SDPMLineIndex:    ptr(uint16(0)),
				UsernameFragment: ptr("abcd"),
			}}},
		{name: "candidate only candidate string", frame: `{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 192.0.2.1 5000 typ host"}}`,
			want: &Candidate{Type: "candidate", Candidate: &ICECandidate{Candidate: "candidate:1 1 udp 1 192.0.2.1 5000 typ host"}}},
		{name: "candidate empty object", frame: `{"type":"candidate","candidate":{}}`,
			want: &Candidate{Type: "candidate", Candidate: &ICECandidate{}}},
		{name: "candidate null ends candidates", frame: `{"type":"candidate","candidate":null}`,
			want: &Candidate{Type: "candidate"}},
		{name: "candidate null with spaces", frame: `{"type":"candidate", "candidate" :  null }`,
			want: &Candidate{Type: "candidate"}},
		{name: "candidate missing", frame: `{"type":"candidate"}`, code: CodeBadRequest, msgHas: []string{"candidate"}},
		{name: "candidate string", frame: `{"type":"candidate","candidate":"candidate:1 1 udp 1 192.0.2.1 5000 typ host"}`, code: CodeBadRequest, msgHas: []string{"object"}},
		{name: "candidate number", frame: `{"type":"candidate","candidate":1}`, code: CodeBadRequest},
		{name: "candidate array", frame: `{"type":"candidate","candidate":[]}`, code: CodeBadRequest},
		{name: "candidate bool", frame: `{"type":"candidate","candidate":false}`, code: CodeBadRequest},
		{name: "candidate inner candidate number", frame: `{"type":"candidate","candidate":{"candidate":5}}`, code: CodeBadRequest, msgHas: []string{"candidate"}},
		{name: "candidate sdpMLineIndex string", frame: `{"type":"candidate","candidate":{"candidate":"c","sdpMLineIndex":"0"}}`, code: CodeBadRequest, msgHas: []string{"sdpMLineIndex"}},
		{name: "candidate sdpMLineIndex negative", frame: `{"type":"candidate","candidate":{"candidate":"c","sdpMLineIndex":-1}}`, code: CodeBadRequest},
		{name: "candidate sdpMid number", frame: `{"type":"candidate","candidate":{"candidate":"c","sdpMid":0}}`, code: CodeBadRequest, msgHas: []string{"sdpMid"}},

		// publish
		{name: "publish valid", frame: `{"type":"publish","tracks":[{"trackId":"a","source":"camera"},{"trackId":"b","source":"microphone"},{"trackId":"c","source":"screen"},{"trackId":"d","source":"screen-audio"}]}`,
			want: &Publish{Type: "publish", Tracks: []PublishedTrack{
				{TrackID: "a", Source: "camera"}, {TrackID: "b", Source: "microphone"},
				{TrackID: "c", Source: "screen"}, {TrackID: "d", Source: "screen-audio"},
			}}},
		{name: "publish empty tracks", frame: `{"type":"publish","tracks":[]}`,
			want: &Publish{Type: "publish", Tracks: []PublishedTrack{}}},
		{name: "publish without source", frame: `{"type":"publish","tracks":[{"trackId":"a"}]}`,
			want: &Publish{Type: "publish", Tracks: []PublishedTrack{{TrackID: "a"}}}},
		{name: "publish missing tracks", frame: `{"type":"publish"}`, code: CodeBadRequest, msgHas: []string{"tracks"}},
		{name: "publish null tracks", frame: `{"type":"publish","tracks":null}`, code: CodeBadRequest, msgHas: []string{"tracks"}},
		{name: "publish tracks object", frame: `{"type":"publish","tracks":{"trackId":"a","source":"camera"}}`, code: CodeBadRequest, msgHas: []string{`"tracks"`, "array"}},
		{name: "publish tracks string", frame: `{"type":"publish","tracks":"camera"}`, code: CodeBadRequest, msgHas: []string{`"tracks"`}},
		{name: "publish bad source", frame: `{"type":"publish","tracks":[{"trackId":"a","source":"webcam"}]}`, code: CodeBadRequest, msgHas: []string{"source"}},
		{name: "publish source wrong case", frame: `{"type":"publish","tracks":[{"trackId":"a","source":"Camera"}]}`, code: CodeBadRequest, msgHas: []string{"source"}},
		{name: "publish second track bad source", frame: `{"type":"publish","tracks":[{"trackId":"a","source":"camera"},{"trackId":"b","source":"x"}]}`, code: CodeBadRequest, msgHas: []string{"tracks[1]"}},
		{name: "publish source number", frame: `{"type":"publish","tracks":[{"trackId":"a","source":1}]}`, code: CodeBadRequest, msgHas: []string{"source"}},
		{name: "publish empty trackId", frame: `{"type":"publish","tracks":[{"trackId":"","source":"camera"}]}`, code: CodeBadRequest, msgHas: []string{"trackId"}},
		{name: "publish missing trackId", frame: `{"type":"publish","tracks":[{"source":"camera"}]}`, code: CodeBadRequest, msgHas: []string{"trackId"}},
		{name: "publish trackId too long", frame: jsonFrame(t, map[string]any{"type": "publish", "tracks": []any{map[string]any{"trackId": strings.Repeat("t", MaxTrackIDLen+1), "source": "camera"}}}), code: CodeBadRequest, msgHas: []string{"trackId"}},
		{name: "publish trackId at max", frame: jsonFrame(t, map[string]any{"type": "publish", "tracks": []any{map[string]any{"trackId": strings.Repeat("t", MaxTrackIDLen), "source": "camera"}}}),
			want: &Publish{Type: "publish", Tracks: []PublishedTrack{{TrackID: strings.Repeat("t", MaxTrackIDLen), Source: "camera"}}}},
		{name: "publish track entry not object", frame: `{"type":"publish","tracks":["a"]}`, code: CodeBadRequest},

		// mute
		{name: "mute true", frame: `{"type":"mute","trackId":"a","muted":true}`,
			want: &Mute{Type: "mute", TrackID: "a", Muted: true}},
		{name: "mute false", frame: `{"type":"mute","trackId":"a","muted":false}`,
			want: &Mute{Type: "mute", TrackID: "a", Muted: false}},
		{name: "mute missing muted", frame: `{"type":"mute","trackId":"a"}`, code: CodeBadRequest, msgHas: []string{"muted"}},
		{name: "mute null muted", frame: `{"type":"mute","trackId":"a","muted":null}`, code: CodeBadRequest, msgHas: []string{"muted"}},
		{name: "mute muted as string", frame: `{"type":"mute","trackId":"a","muted":"true"}`, code: CodeBadRequest, msgHas: []string{`"muted"`, "boolean"}},
		{name: "mute muted as number", frame: `{"type":"mute","trackId":"a","muted":1}`, code: CodeBadRequest, msgHas: []string{`"muted"`, "boolean"}},
		{name: "mute missing trackId", frame: `{"type":"mute","muted":true}`, code: CodeBadRequest, msgHas: []string{"trackId"}},
		{name: "mute empty trackId", frame: `{"type":"mute","trackId":"","muted":true}`, code: CodeBadRequest, msgHas: []string{"trackId"}},
		{name: "mute trackId number", frame: `{"type":"mute","trackId":3,"muted":true}`, code: CodeBadRequest, msgHas: []string{`"trackId"`, "string"}},

		// chat
		{name: "chat 1 char", frame: chat("x"), want: &ChatRequest{Type: "chat", Text: "x"}},
		{name: "chat 0 chars", frame: chat(""), code: CodeBadRequest, msgHas: []string{"text"}},
		{name: "chat missing text", frame: `{"type":"chat"}`, code: CodeBadRequest, msgHas: []string{"text"}},
		{name: "chat 4096 ASCII", frame: chat(strings.Repeat("x", 4096)),
			want: &ChatRequest{Type: "chat", Text: strings.Repeat("x", 4096)}},
		{name: "chat 4097 ASCII", frame: chat(strings.Repeat("x", 4097)), code: CodeBadRequest, msgHas: []string{"text"}},
		{name: "chat 4096 multi-byte", frame: chat(strings.Repeat("ü", 4096)),
			want: &ChatRequest{Type: "chat", Text: strings.Repeat("ü", 4096)}},
		{name: "chat 4097 multi-byte", frame: chat(strings.Repeat("ü", 4097)), code: CodeBadRequest, msgHas: []string{"text"}},
		{name: "chat multi-line", frame: chat("line 1\nline 2"), want: &ChatRequest{Type: "chat", Text: "line 1\nline 2"}},
		{name: "chat text number", frame: `{"type":"chat","text":5}`, code: CodeBadRequest, msgHas: []string{`"text"`, "string"}},

		// leave
		{name: "leave", frame: `{"type":"leave"}`, want: &Leave{Type: "leave"}},
		{name: "leave with extra fields", frame: `{"type":"leave","reason":"bye","n":1,"x":{"y":[1,2]},"z":null}`,
			want: &Leave{Type: "leave"}},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, perr := DecodeRequest([]byte(tc.frame))
			if tc.want != nil {
				if perr != nil {
					t.Fatalf("DecodeRequest(%.80q) error %v, want %T", tc.frame, perr, tc.want)
				}
				if reflect.TypeOf(got) != reflect.TypeOf(tc.want) {
					t.Fatalf("DecodeRequest(%.80q) = %T, want %T", tc.frame, got, tc.want)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("DecodeRequest(%.80q) = %+v, want %+v", tc.frame, got, tc.want)
				}
				return
			}
			if perr == nil {
				t.Fatalf("DecodeRequest(%.80q) = %T %+v, want error %s", tc.frame, got, got, tc.code)
			}
			if got != nil {
				t.Errorf("DecodeRequest(%.80q) returned message %T along with error %v", tc.frame, got, perr)
			}
			if perr.Code != tc.code {
				t.Fatalf("DecodeRequest(%.80q) code %s (%s), want %s", tc.frame, perr.Code, perr.Message, tc.code)
			}
			if perr.Message == "" {
				t.Errorf("DecodeRequest(%.80q): empty error message", tc.frame)
			}
			for _, s := range tc.msgHas {
				if !strings.Contains(perr.Message, s) {
					t.Errorf("DecodeRequest(%.80q) message %q does not mention %q", tc.frame, perr.Message, s)
				}
			}
		})
	}
}

// TestDecodeRequestErrorWire checks that a decode failure turns into the
// contract's "error" message.
func TestDecodeRequestErrorWire(t *testing.T) {
	_, perr := DecodeRequest([]byte(`{"type":"join","room":5,"name":"n"}`))
	if perr == nil {
		t.Fatal("want an error")
	}
	var wire map[string]any
	if err := json.Unmarshal(Encode(perr.Wire()), &wire); err != nil {
		t.Fatalf("unmarshal wire error: %v", err)
	}
	if wire["type"] != "error" || wire["code"] != "bad-request" {
		t.Fatalf("wire error = %v, want type error, code bad-request", wire)
	}
	if msg, _ := wire["message"].(string); !strings.Contains(msg, "room") {
		t.Fatalf("wire message %q does not name the field", msg)
	}
}

func TestValidRoomAndName(t *testing.T) {
	rooms := []struct {
		s    string
		want bool
	}{
		{"", false},
		{"a", true},
		{"A-Z_a.z-0_9", true},
		{strings.Repeat("x", MaxRoomLen), true},
		{strings.Repeat("x", MaxRoomLen+1), false},
		{"a b", false},
		{"a+b", false},
		{"ä", false},
	}
	for _, tc := range rooms {
		if got := ValidRoom(tc.s); got != tc.want {
			t.Errorf("ValidRoom(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
	names := []struct {
		s    string
		want bool
	}{
		{"", false},
		{"x", true},
		{strings.Repeat("é", MaxNameLen), true},
		{strings.Repeat("é", MaxNameLen+1), false},
		{"\x00", false},
		{"a\u200bb", false}, // zero-width space is a format character
		{"\xff", false},     // invalid UTF-8
	}
	for _, tc := range names {
		if got := ValidName(tc.s); got != tc.want {
			t.Errorf("ValidName(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}
