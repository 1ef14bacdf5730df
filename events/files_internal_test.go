package events

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// TestCredsOption: the credentials option gives nats.go the same JWT and
// signature as nats.UserCredentials, and a file later swapped for a named
// pipe or /dev/zero fails the connect attempt at once (nats.go's own read
// blocked forever on the pipe and grew without bound on /dev/zero).
func TestCredsOption(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	const jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJ0ZXN0In0.c2ln"
	creds := "-----BEGIN NATS USER JWT-----\n" + jwt + "\n------END NATS USER JWT------\n\n" +
		"-----BEGIN USER NKEY SEED-----\n" + string(seed) + "\n------END USER NKEY SEED------\n"
	dir := t.TempDir()
	path := filepath.Join(dir, "user.creds")
	if err := os.WriteFile(path, []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	apply := func(opt nats.Option) nats.Options {
		o := nats.GetDefaultOptions()
		if err := opt(&o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	ours, theirs := apply(credsOption(path)), apply(nats.UserCredentials(path))
	nonce := []byte("nonce-from-the-server")
	gotJWT, err1 := ours.UserJWT()
	wantJWT, err2 := theirs.UserJWT()
	gotSig, err3 := ours.SignatureCB(nonce)
	wantSig, err4 := theirs.SignatureCB(nonce)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		t.Fatalf("errors: %v %v %v %v", err1, err2, err3, err4)
	}
	if gotJWT != wantJWT || gotJWT != jwt || !bytes.Equal(gotSig, wantSig) {
		t.Errorf("JWT %q sig %x; nats.UserCredentials gives %q %x", gotJWT, gotSig, wantJWT, wantSig)
	}

	for _, swap := range []struct {
		name string
		do   func() error
		want string
	}{
		{"named pipe", func() error { return syscall.Mkfifo(path, 0o600) }, "is a named pipe"},
		{"symlink to /dev/zero", func() error { return os.Symlink("/dev/zero", path) }, "is a character device"},
	} {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if err := swap.do(); err != nil {
			t.Fatal(err)
		}
		if _, err := ours.UserJWT(); err == nil || !strings.Contains(err.Error(), swap.want) {
			t.Errorf("%s: UserJWT error = %v, want %q", swap.name, err, swap.want)
		}
		if _, err := ours.SignatureCB(nonce); err == nil || !strings.Contains(err.Error(), swap.want) {
			t.Errorf("%s: SignatureCB error = %v, want %q", swap.name, err, swap.want)
		}
	}
}
