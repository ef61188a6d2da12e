package link

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/parleychat/parley/shared/internal/golden"
)

// exampleName is the golden example's file name of a command.
func exampleName(command string) string { return strings.ReplaceAll(command, ":", ".") }

// readExample decodes a golden example as the readers do (tolerantly): an
// ack.* file as an Ack, any other as a command's Envelope.
func readExample(t *testing.T, name string, body []byte) any {
	t.Helper()
	var v any = new(Envelope)
	if strings.HasPrefix(name, "ack.") {
		v = new(Ack)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if env, ok := v.(*Envelope); ok && len(env.Data) > 0 {
		// The payload is passed on as it came: compare it without layout.
		var compact bytes.Buffer
		if err := json.Compact(&compact, env.Data); err != nil {
			t.Fatalf("%s: data: %v", name, err)
		}
		env.Data = compact.Bytes()
	}
	return v
}

// TestGoldenExamplesAreWhatWritersSend: an example for every command, each
// (and every ack) decodes strictly and encodes back to itself, so the
// examples hold exactly the fields the writers send.
func TestGoldenExamplesAreWhatWritersSend(t *testing.T) {
	files, err := golden.Read("testdata", "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
		v := readExample(t, f.Name, f.Body)
		dec := json.NewDecoder(bytes.NewReader(f.Body))
		dec.DisallowUnknownFields()
		strict := reflect.New(reflect.TypeOf(v).Elem()).Interface()
		if err := dec.Decode(strict); err != nil {
			t.Errorf("%s holds a field the writers do not send: %v", f.Name, err)
		}
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, f.Body); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, compact.Bytes()) {
			t.Errorf("%s encodes back as\n%s\nnot\n%s", f.Name, out, compact.Bytes())
		}
		if env, ok := v.(*Envelope); ok && (env.Token == "" || env.Traceparent == "" || len(env.Data) == 0) {
			t.Errorf("%s: token, traceparent and data are always sent", f.Name)
		}
	}
	for _, c := range Commands {
		if !slices.Contains(names, exampleName(c)) {
			t.Errorf("no golden example testdata/%s.json for the command %s", exampleName(c), c)
		}
	}
}

// TestEveryReleasesExamplesAreRead: the envelopes and acks of every release
// (and of the working tree) are read by the current code, also with fields
// added by a newer peer, which change nothing that is read; every command
// a release sent is still a command.
func TestEveryReleasesExamplesAreRead(t *testing.T) {
	files, err := golden.All("testdata")
	if err != nil {
		t.Fatal(err)
	}
	commands := map[string]bool{}
	for _, c := range Commands {
		commands[exampleName(c)] = true
	}
	for _, f := range files {
		t.Run("v"+f.Version+"/"+f.Name, func(t *testing.T) {
			if !strings.HasPrefix(f.Name, "ack.") && !commands[f.Name] {
				t.Fatalf("%s is no longer a command: the gateway of release %s sends it", f.Name, f.Version)
			}
			v := readExample(t, f.Name, f.Body)
			newer, err := golden.Newer(f.Body, "error")
			if err != nil {
				t.Fatal(err)
			}
			if got := readExample(t, f.Name, newer); !reflect.DeepEqual(got, v) {
				a, _ := json.Marshal(got)
				b, _ := json.Marshal(v)
				t.Errorf("unknown fields changed what is read:\n%s\nwant\n%s", a, b)
			}
		})
	}
}
