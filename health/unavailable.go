package health

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
)

// TypeCheckUnavailable is the problem of a check that cannot run, so that
// health never reads ok while the sidecar is blind to part of the server.
const TypeCheckUnavailable = "check.unavailable"

// readUsers are what relies on a read besides the rules that declare it
// with need (those are recorded as they run).
var readUsers = map[Read][]string{
	ReadBinlogStatus: {"stream behind_bytes"},
}

// checkUnavailable: a read that checks depend on cannot run. A missing
// privilege fires at once (it will not go away by itself); any other
// failure fires after two polls in a row in which the server answered
// other reads (a server that answers nothing is stream.down's business and
// says nothing about any one check). A read that has no evidence this poll
// (skipped after a lost connection, or the server not answering) keeps
// what already fires, so nothing resolves while the server is silent.
// The subject is check/<read>; the checks that rely on it are named.
func (e *eval) checkUnavailable() {
	const typ = TypeCheckUnavailable
	before := len(e.findings)
	answered := e.o.answered()
	for _, r := range Reads() {
		res, users := e.o.Read(r), e.readUsers(r)
		k := key{typ: typ, subject: subject{kind: kindCheck, name: string(r)}}
		switch {
		case len(users) == 0 || res.OK():
		case res.MissingPrivilege != "":
			st := e.streak(k)
			e.add(e.missingPrivilege(r, res, users, st))
		case res.Skipped || res.At.IsZero() || !answered:
			e.carry(k)
		default:
			if st := e.streak(k); st.n >= 2 {
				e.add(e.readFailing(r, res, users, st))
			}
		}
	}
	e.semiSyncPlugin()
	e.done(typ, before, "")
}

// readUsers lists the evaluated checks that need read r, sorted.
func (e *eval) readUsers(r Read) []string {
	var out []string
	for check, reads := range e.needs {
		if slices.Contains(reads, r) && e.checks[check].State != CheckNotEvaluated {
			out = append(out, check)
		}
	}
	slices.Sort(out)
	return append(out, readUsers[r]...)
}

// carry keeps a firing check.unavailable as it was: this poll has no
// evidence either way.
func (e *eval) carry(k key) {
	p, firing := e.m.active[k]
	if !firing {
		return
	}
	if _, counted := e.m.streaks[k]; counted {
		e.touched[k] = true
	}
	e.findings = append(e.findings, finding{typ: k.typ, subject: k.subject, since: p.Since,
		summary: p.Summary, remediation: p.Remediation, evidence: maps.Clone(p.Evidence)})
}

func (e *eval) missingPrivilege(r Read, res ReadResult, users []string, st streak) finding {
	grant := res.Grant
	if grant == "" {
		grant = res.MissingPrivilege
	}
	effect := "the server refuses it"
	if res.Err == "" { // the processlist hides other accounts' rows instead of failing
		effect = "the server silently shows only the account's own rows"
	}
	return finding{typ: TypeCheckUnavailable, subject: subject{kind: kindCheck, name: string(r)}, since: st.since,
		summary: fmt.Sprintf("The %s check cannot run: the sidecar's account %s lacks %s, so %s; %s cannot be judged.",
			r, e.account(), res.MissingPrivilege, effect, strings.Join(users, ", ")),
		remediation: fmt.Sprintf("GRANT %s ON *.* TO %s;", grant, e.account()),
		evidence: map[string]any{"check": string(r), "missing": "privilege " + res.MissingPrivilege, "grant": grant,
			"account": e.account(), "checks": users, "sql": res.SQL, "error": res.Err, "read": res}}
}

func (e *eval) readFailing(r Read, res ReadResult, users []string, st streak) finding {
	return finding{typ: TypeCheckUnavailable, subject: subject{kind: kindCheck, name: string(r)}, since: st.since,
		summary: fmt.Sprintf("The %s check cannot run: its read failed in %d polls in a row (%s); %s cannot be judged.",
			r, st.n, res.Err, strings.Join(users, ", ")),
		remediation: failingFix(res, e.account()),
		evidence: map[string]any{"check": string(r), "missing": missingOf(res), "checks": users, "sql": res.SQL,
			"error": res.Err, "code": res.Code, "polls": st.n, "read": res}}
}

// failingFix says what to run for the server errors that name something
// missing; otherwise how to see the error for oneself.
func failingFix(res ReadResult, account string) string {
	switch res.Code {
	case 1146, 1109: // table or view does not exist
		if strings.Contains(res.SQL, "performance_schema") {
			return "Set performance_schema=ON in the server's option file and restart it (the variable is read-only at run time)."
		}
	case 1193: // unknown system variable
		return "The server does not have a variable this read needs: upgrade the server, or load the plugin that provides it."
	}
	return fmt.Sprintf("Run the statement as %s to see the error: %s", account, oneLine(res.SQL))
}

func missingOf(res ReadResult) string {
	switch res.Code {
	case 1146, 1109:
		return "table"
	case 1193:
		return "variable"
	}
	return "a working read"
}

// semiSyncPlugin: the inventory expects semi-sync replicas, but a MySQL
// server has no semi-sync variables (the plugin is not loaded; MariaDB
// 10.3+ builds semi-sync in), so the semi-sync check has nothing to read.
func (e *eval) semiSyncPlugin() {
	want := e.expectedSemiSync()
	if len(want) == 0 || e.o.Server.Flavor != FlavorMySQL || e.o.SemiSync.Available || !e.o.Read(ReadVariables).OK() {
		return
	}
	const check = TypeSemiSyncDegraded
	plugin, lib := "rpl_semi_sync_master", "semisync_master"
	if mysqlserver.VersionAtLeast(e.o.Server.Version, mysqlserver.MySQL8026) {
		plugin, lib = "rpl_semi_sync_source", "semisync_source"
	}
	e.checks[check] = Check{State: CheckUnavailable, Reason: "no semi-sync variables on this server (plugin not loaded)"}
	subj := subject{kind: kindCheck, name: check}
	st := e.streak(key{typ: TypeCheckUnavailable, subject: subj})
	e.add(finding{typ: TypeCheckUnavailable, subject: subj, since: st.since,
		summary: fmt.Sprintf("The %s check cannot run: the inventory expects semi-sync replicas (%s) but the server has no %s_* variables (the plugin is not loaded).",
			check, strings.Join(want, ", "), plugin),
		remediation: fmt.Sprintf("INSTALL PLUGIN %s SONAME '%s.so'; SET GLOBAL %s_enabled=ON; (and plugin-load-add=%s.so in the option file so it survives a restart), or drop semisync from the inventory.",
			plugin, lib, plugin, lib),
		evidence: map[string]any{"check": check, "missing": "variable " + plugin + "_enabled", "semisync_replicas_expected": want,
			"sql": e.sql(ReadVariables)}})
}

// account is the sidecar's account as a GRANT statement names it.
func (e *eval) account() string {
	if e.o.Account != "" {
		return e.o.Account
	}
	return "'" + e.o.User + "'@'<host>'"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
