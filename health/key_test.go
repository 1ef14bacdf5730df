package health

import "testing"

func TestSubject_String(t *testing.T) {
	tests := []struct {
		give subject
		want string
	}{
		{subject{kind: kindStream}, "stream"},
		{subject{kind: kindReplica, name: "db-2:3306"}, "replica/db-2:3306"},
		{threadSubject(42), "thread/42"},
		{subject{kind: kindChannel, name: "default"}, "channel/default"},
		{subject{kind: kindCheck, name: string(ReadDumpThreads)}, "check/" + string(ReadDumpThreads)},
	}
	for _, tt := range tests {
		if got := tt.give.String(); got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.give, got, tt.want)
		}
	}
}

func TestKey_check(t *testing.T) {
	tests := []struct {
		give key
		want string
	}{
		{key{typ: TypeDumpThreadFlapping, subject: subject{kind: kindReplica, name: "server_id:2"}}, TypeDumpThreadFlapping},
		{key{typ: TypeDumpThreadFlapping, subject: subject{kind: kindChannel, name: "default"}}, TypeDumpThreadFlapping + channelCheck},
	}
	for _, tt := range tests {
		if got := tt.give.check(); got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.give, got, tt.want)
		}
	}
}
