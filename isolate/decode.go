package isolate

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// decodeJSON decodes a JSON document into v (a non-nil pointer) as json.Unmarshal does, and
// returns the paths of the object members that match no field, such as "linux.futureField".
//
// Why not json.Unmarshal: the first time a process decodes into a struct type, encoding/json
// works out the fields of every type reachable from it, and builds their encoders too. For
// specs.Spec that is the whole runtime-spec tree (every cgroup, seccomp, Windows, Solaris, VM
// and z/OS type): 1.4 ms in a fresh process on the development VM, a tenth of the runtime's
// CPU per container, paid by `contain run` and again by every container's init. Here the
// document is checked whole once (json.Valid) and then walked: the members of an object are
// matched to the struct's fields (by json name, exactly or else case-insensitively, as
// encoding/json does), lists and maps of structs are walked item by item, and only the leaves
// (strings, numbers, lists and maps of them, types that decode themselves) go through
// encoding/json, except the plainest ones, which decodeFastLeaf sets itself. A type costs
// something only when the document uses it.
func decodeJSON(data []byte, v any) (unknown []string, err error) {
	d, err := walkJSON(data, v)
	return d.unknown, err
}

// walkJSON is decodeJSON, with all the walk found: the members that match no field, and those
// that set a field again.
func walkJSON(data []byte, v any) (*jsonWalker, error) {
	d := &jsonWalker{}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return d, fmt.Errorf("decodeJSON: want a non-nil pointer, got %T", v)
	}
	if !json.Valid(data) {
		return d, json.Unmarshal(data, v) // encoding/json says what is wrong, and where
	}
	return d, d.value(data, rv.Elem(), "")
}

// readConfig decodes the JSON document that the runtime hands one of its own processes (init's
// config, the exec stage's) from r, which it closes. Both ends are this binary, so a member
// that matches no field is an error.
func readConfig(r io.ReadCloser, v any) error {
	defer r.Close()
	data, err := readAllFrom(r, 16<<10)
	if err != nil {
		return err
	}
	unknown, err := decodeJSON(data, v)
	if err == nil && len(unknown) > 0 {
		err = fmt.Errorf("unknown fields %s", strings.Join(unknown, ", "))
	}
	return err
}

// readAllFrom reads r to its end into a buffer of size bytes, grown only if r has more: the
// whole config in one read(2) as a rule, where io.ReadAll starts at 512 bytes. Go clears
// what bytes.Buffer grows into, page by page, and need not clear memory fresh from the
// kernel (init's heap all is), of which only the pages read into are then touched: a 16 KB
// buffer for a config of a few KB cost init three page faults more through bytes.Buffer.
func readAllFrom(r io.Reader, size int) ([]byte, error) {
	data := make([]byte, 0, size)
	for {
		if len(data) == cap(data) {
			data = slices.Grow(data, cap(data))
		}
		n, err := r.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return data, err
		}
	}
}

type jsonWalker struct {
	unknown []string // paths of members that match no field
	// repeated: members that set a field an earlier member of their object set, by the same
	// key or one that differs only in case ("readonlyPaths", then "ReadonlyPaths"). The last
	// one counts, as in encoding/json; unsaid, a slip of the shift key undid the first.
	repeated []string
}

// value decodes data into v, which is settable.
func (d *jsonWalker) value(data []byte, v reflect.Value, path string) error {
	t := v.Type()
	switch {
	case walkable(t) && startsWith(data, '{'):
		if t.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(t.Elem()))
			}
			v = v.Elem()
		}
		return d.object(data, v, path)
	case t.Kind() == reflect.Slice && walkable(t.Elem()) && startsWith(data, '['):
		items := splitArray(data)
		s := reflect.MakeSlice(t, len(items), len(items))
		for i, item := range items {
			if err := d.value(item, s.Index(i), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && walkable(t.Elem()) && startsWith(data, '{'):
		members := splitObject(data)
		if v.IsNil() {
			v.Set(reflect.MakeMapWithSize(t, len(members)))
		}
		for _, m := range members {
			key := string(m.key)
			item := reflect.New(t.Elem()).Elem()
			if err := d.value(m.value, item, joinPath(path, key)); err != nil {
				return err
			}
			v.SetMapIndex(reflect.ValueOf(key).Convert(t.Key()), item)
		}
		return nil
	}
	if decodeFastLeaf(data, v) {
		return nil
	}
	// A leaf, null, or a value of the wrong kind: encoding/json decodes it or says what is wrong.
	if err := json.Unmarshal(data, v.Addr().Interface()); err != nil {
		return atPath(path, err)
	}
	return nil
}

// decodeFastLeaf decodes the plainest leaves itself, and reports whether it did: a string of
// printable ASCII with nothing escaped, an integer, true or false, into a value of that kind
// (or a pointer to one) that does not decode itself; and lists of those. Anything else, and
// anything that encoding/json would refuse or round, is left to encoding/json.
func decodeFastLeaf(data []byte, v reflect.Value) bool {
	data = bytes.Trim(data, jsonSpace)
	t := v.Type()
	switch {
	case t.Kind() == reflect.Pointer && isFastLeaf(t.Elem()): // null is left to encoding/json
		p := reflect.New(t.Elem())
		if !decodeFastLeaf(data, p.Elem()) {
			return false
		}
		v.Set(p)
		return true
	case t.Kind() == reflect.Slice && isFastLeaf(t.Elem()) && t.Elem().Kind() != reflect.Uint8:
		if len(data) == 0 || data[0] != '[' {
			return false
		}
		items := splitArray(data)
		s := reflect.MakeSlice(t, len(items), len(items))
		for i, item := range items {
			if !decodeFastLeaf(item, s.Index(i)) {
				return false
			}
		}
		v.Set(s)
		return true
	case !isFastLeaf(t):
		return false
	}
	switch t.Kind() {
	case reflect.String:
		if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' || needsEscape(string(data[1:len(data)-1])) {
			return false
		}
		v.SetString(string(data[1 : len(data)-1]))
	case reflect.Bool:
		switch string(data) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			return false
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(string(data), 10, t.Bits())
		if err != nil {
			return false
		}
		v.SetInt(n)
	default:
		n, err := strconv.ParseUint(string(data), 10, t.Bits())
		if err != nil {
			return false
		}
		v.SetUint(n)
	}
	return true
}

// object decodes the members of a JSON object into the struct v. Most members are plain
// leaves: those are decoded first, without the path to them, which only a message needs.
func (d *jsonWalker) object(data []byte, v reflect.Value, path string) error {
	fields := structFields(v.Type())
	var set uint64 // the fields set so far, by their place in fields.list (the first 64)
	for _, m := range splitObject(data) {
		i, f, ok := fields.lookup(string(m.key))
		if !ok {
			d.unknown = append(d.unknown, joinPath(path, string(m.key)))
			continue
		}
		if i < 64 {
			if set&(1<<i) != 0 {
				d.repeated = append(d.repeated, fmt.Sprintf("%q sets %q again", joinPath(path, string(m.key)), joinPath(path, f.name)))
			}
			set |= 1 << i
		}
		field := v.FieldByIndex(f.index)
		if decodeFastLeaf(m.value, field) {
			continue
		}
		if err := d.value(m.value, field, joinPath(path, f.name)); err != nil {
			return err
		}
	}
	return nil
}

// The document was checked whole (json.Valid) before it is taken apart: the functions below
// only find where its objects' members and its lists' items begin and end.

// jsonMember is one member of a JSON object: its key, and its value still encoded.
type jsonMember struct {
	key   []byte // unescaped; a part of the document itself unless it had escapes
	value []byte
}

// splitObject returns the members of the valid JSON object data, in the document's order.
func splitObject(data []byte) []jsonMember {
	var members []jsonMember
	eachItem(data, func(i int) int {
		end := skipString(data, i)
		key := data[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var unescaped string
			json.Unmarshal(data[i:end], &unescaped) // an escaped key: encoding/json unescapes it
			key = []byte(unescaped)
		}
		i = skipSpace(data, skipSpace(data, end)+1) // past ':'
		end = skipValue(data, i)
		members = append(members, jsonMember{key, data[i:end]})
		return end
	})
	return members
}

// splitArray returns the items of the valid JSON array data, each still encoded.
func splitArray(data []byte) [][]byte {
	items := [][]byte{}
	eachItem(data, func(i int) int {
		end := skipValue(data, i)
		items = append(items, data[i:end])
		return end
	})
	return items
}

// eachItem calls item with where each member of the valid object, or item of the valid list,
// data starts; item returns where it ends.
func eachItem(data []byte, item func(start int) (end int)) {
	i := skipSpace(data, 0) + 1 // past '{' or '['
	for {
		i = skipSpace(data, i)
		if data[i] == '}' || data[i] == ']' {
			return
		}
		i = skipSpace(data, item(i))
		if data[i] == ',' {
			i++
		}
	}
}

// skipValue returns where the value that starts at data[i] ends.
func skipValue(data []byte, i int) int {
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for {
			switch data[i] {
			case '"':
				i = skipString(data, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
	}
	for i < len(data) && !strings.ContainsRune(",}] \t\r\n", rune(data[i])) {
		i++ // a number, true, false or null
	}
	return i
}

// skipString returns where the string that starts at data[i] (its opening quote) ends.
func skipString(data []byte, i int) int {
	for i++; data[i] != '"'; i++ {
		if data[i] == '\\' {
			i++ // the escaped character, which may be a quote
		}
	}
	return i + 1
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && strings.IndexByte(jsonSpace, data[i]) >= 0 {
		i++
	}
	return i
}

// The methods with which a type encodes or decodes itself.
var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	jsonMarshaler   = reflect.TypeFor[json.Marshaler]()
	textMarshaler   = reflect.TypeFor[encoding.TextMarshaler]()
)

// walkable reports whether values of type t are decoded member by member: a struct, or a
// pointer to one, that does not decode itself and whose embedded fields are plain structs.
func walkable(t reflect.Type) bool {
	fs, ok := memberwise(t, jsonUnmarshaler, textUnmarshaler)
	return ok && fs.ok
}

// memberwise returns the fields of t, a struct or a pointer to one, unless it is neither or
// its pointer type has one of the methods in self (with which it encodes or decodes itself).
func memberwise(t reflect.Type, self ...reflect.Type) (jsonFields, bool) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return jsonFields{}, false
	}
	p := reflect.PointerTo(t)
	if slices.ContainsFunc(self, p.Implements) {
		return jsonFields{}, false
	}
	return structFields(t), true
}

// jsonField is a struct field as encoding/json names it.
type jsonField struct {
	name      string
	index     []int
	omitEmpty bool // the tag's ",omitempty"
}

type jsonFields struct {
	list []jsonField // in encoding/json's order: by index, embedded fields where they sit
	ok   bool        // false: an embedded field that is not a plain struct; encoding/json decodes t
	// encodable: no field asks for an option that encodeJSON leaves to encoding/json
	// (",string", ",omitzero")
	encodable bool
}

// lookup finds the field a member's key names, and its place in the list.
func (fs jsonFields) lookup(name string) (int, jsonField, bool) {
	for i, f := range fs.list {
		if f.name == name {
			return i, f, true
		}
	}
	for i, f := range fs.list {
		if strings.EqualFold(f.name, name) {
			return i, f, true
		}
	}
	return -1, jsonField{}, false
}

var fieldCache sync.Map // reflect.Type -> jsonFields

// structFields lists the fields of struct type t under their json names, with the fields of
// embedded structs promoted unless a shallower field has the same name.
func structFields(t reflect.Type) jsonFields {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(jsonFields)
	}
	fs := jsonFields{ok: true, encodable: true, list: make([]jsonField, 0, t.NumField())}
	var embedded []jsonField
	// Every process works out the field lists of the spec's types once, several hundred
	// fields: one index array per struct, and the tag's options read in place, save a few
	// hundred allocations per process.
	indexes := make([]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			if f.Type.Kind() != reflect.Struct {
				fs.ok = false
				continue
			}
			inner := structFields(f.Type)
			fs.ok = fs.ok && inner.ok
			fs.encodable = fs.encodable && inner.encodable
			for _, g := range inner.list {
				g.index = append([]int{i}, g.index...)
				embedded = append(embedded, g)
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		omitEmpty := false
		for opts != "" {
			var opt string
			opt, opts, _ = strings.Cut(opts, ",")
			switch opt {
			case "omitempty":
				omitEmpty = true
			case "string", "omitzero":
				fs.encodable = false
			}
		}
		indexes[i] = i
		fs.list = append(fs.list, jsonField{name: name, index: indexes[i : i+1 : i+1],
			omitEmpty: omitEmpty})
	}
	for _, g := range embedded {
		if !slices.ContainsFunc(fs.list, func(f jsonField) bool { return f.name == g.name }) {
			fs.list = append(fs.list, g)
		}
	}
	slices.SortFunc(fs.list, func(a, b jsonField) int { return slices.Compare(a.index, b.index) })
	fieldCache.Store(t, fs)
	return fs
}

// jsonSpace is the white space JSON allows between tokens.
const jsonSpace = " \t\r\n"

func startsWith(data []byte, c byte) bool {
	data = bytes.TrimLeft(data, jsonSpace)
	return len(data) > 0 && data[0] == c
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func atPath(path string, err error) error {
	if path == "" {
		return err
	}
	return fmt.Errorf("%s: %w", path, err)
}
