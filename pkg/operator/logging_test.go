package operator

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestNewLogger_WritesJSONAtTheChosenLevel(t *testing.T) {
	for _, tc := range []struct {
		level    string
		wantMsgs []string
	}{
		{level: "debug", wantMsgs: []string{"debug line", "info line", "error line"}},
		{level: "info", wantMsgs: []string{"info line", "error line"}},
		{level: "error", wantMsgs: []string{"error line"}},
	} {
		t.Run(tc.level, func(t *testing.T) {
			var out bytes.Buffer
			log := NewLogger(tc.level, &out)
			log.V(1).Info("debug line", "machine", "default-x7k2p")
			log.Info("info line", "machine", "default-x7k2p")
			log.Error(errors.New("boom"), "error line", "machine", "default-x7k2p")

			var got []string
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				entry := map[string]any{}
				if err := json.Unmarshal([]byte(line), &entry); err != nil {
					t.Fatalf("log line is not JSON: %q", line)
				}
				if entry["machine"] != "default-x7k2p" || entry["time"] == nil {
					t.Errorf("log line lacks its key/value pairs or time: %q", line)
				}
				got = append(got, entry["msg"].(string))
			}
			if strings.Join(got, ",") != strings.Join(tc.wantMsgs, ",") {
				t.Errorf("logged %q at level %s, want %q", got, tc.level, tc.wantMsgs)
			}
		})
	}
}
