package isolate

import (
	"unicode/utf8"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// rawArgs carries process.args, process.env and process.cwd byte for byte to init and to the
// exec stage, when one of them is not UTF-8. The quick form's and exec's command lines come from argv,
// which may hold any bytes (a file name in Latin-1, `-e NAME=$'\xff'`), but the config pipe is
// JSON, whose strings are UTF-8: encoding replaces every other byte with U+FFFD, and the
// program would get another name. []byte encodes as base64, which keeps the bytes. It is set
// only for such a process: for the rest the strings are enough, and cheaper to encode.
type rawArgs struct {
	Args [][]byte `json:"args,omitempty"`
	Env  [][]byte `json:"env,omitempty"`
	Cwd  []byte   `json:"cwd,omitempty"`
}

// rawArgsOf returns p's args, env and cwd as bytes when one of them is not UTF-8, or nil.
func rawArgsOf(p *specs.Process) *rawArgs {
	if p == nil || allUTF8(p.Args) && allUTF8(p.Env) && utf8.ValidString(p.Cwd) {
		return nil
	}
	return &rawArgs{Args: asBytes(p.Args), Env: asBytes(p.Env), Cwd: []byte(p.Cwd)}
}

// restore puts the bytes back into p's args, env and cwd (after the config was decoded).
func (r *rawArgs) restore(p *specs.Process) {
	if r == nil || p == nil {
		return
	}
	p.Args, p.Env, p.Cwd = asStrings(r.Args), asStrings(r.Env), string(r.Cwd)
}

func allUTF8(list []string) bool {
	for _, s := range list {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

func asBytes(list []string) [][]byte {
	out := make([][]byte, len(list))
	for i, s := range list {
		out[i] = []byte(s)
	}
	return out
}

func asStrings(list [][]byte) []string {
	out := make([]string, len(list))
	for i, b := range list {
		out[i] = string(b)
	}
	return out
}
