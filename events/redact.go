package events

import "strings"

// redactedSecret replaces a password or token in a logged URL.
const redactedSecret = "xxxxx"

// RedactURLs returns urls (one URL or a comma-separated list, with or
// without a scheme: nats://user:pass@host:4222, user:pass@host:4222,
// nats://token@host) with the secret part of each userinfo replaced:
// user:pass@ becomes user:xxxxx@ and a bare token becomes xxxxx@. It works
// on the text, so it also redacts URLs that do not parse. Every URL the
// publisher logs goes through it.
func RedactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, u := range parts {
		parts[i] = redactURL(u)
	}
	return strings.Join(parts, ",")
}

func redactURL(u string) string {
	start := 0
	if i := strings.Index(u, "://"); i >= 0 {
		start = i + 3
	}
	at := strings.LastIndexByte(u[start:], '@')
	if at < 0 {
		return u
	}
	at += start
	info := u[start:at]
	if user, _, ok := strings.Cut(info, ":"); ok {
		info = user + ":" + redactedSecret
	} else {
		info = redactedSecret
	}
	return u[:start] + info + u[at:]
}

// secrets returns the passwords and tokens in urls' userinfo, to be cut
// out of error messages that may quote a URL.
func secrets(urls []string) []string {
	var out []string
	for _, list := range urls {
		for _, u := range strings.Split(list, ",") {
			if i := strings.Index(u, "://"); i >= 0 {
				u = u[i+3:]
			}
			at := strings.LastIndexByte(u, '@')
			if at < 0 {
				continue
			}
			info := u[:at]
			if _, pass, ok := strings.Cut(info, ":"); ok {
				info = pass
			}
			if info != "" {
				out = append(out, info)
			}
		}
	}
	return out
}

// redactErr returns err with every secret of p's URLs replaced, or err
// itself when its message holds none.
func (p *Publisher) redactErr(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := msg
	for _, s := range secrets(p.opts.URLs) {
		red = strings.ReplaceAll(red, s, redactedSecret)
	}
	if red == msg {
		return err
	}
	return redactedError{msg: red, err: err}
}

// redactedError keeps the chain for errors.Is while its message hides the
// secrets.
type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }
