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
// document is walked instead: the members of an object are matched to the struct's fields
// (by json name, exactly or else case-insensitively, as encoding/json does), lists and maps
// of structs are walked item by item, and only the leaves (strings, numbers, lists and maps of
// them, types that decode themselves) go through encoding/json. A type costs something only
// when the document uses it.
func decodeJSON(data []byte, v any) (unknown []string, err error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return nil, fmt.Errorf("decodeJSON: want a non-nil pointer, got %T", v)
	}
	d := &jsonWalker{}
	err = d.value(data, rv.Elem(), "")
	return d.unknown, err
}

// readConfig decodes the JSON document that the runtime hands one of its own processes (init's
// config, the exec stage's) from r, which it closes. Both ends are this binary, so a member
// that matches no field is an error.
func readConfig(r io.ReadCloser, v any) error {
	defer r.Close()
	var buf bytes.Buffer
	buf.Grow(16 << 10) // the whole config in one read(2) as a rule; io.ReadAll starts at 512 bytes
	if _, err := buf.ReadFrom(r); err != nil {
		return err
	}
	unknown, err := decodeJSON(buf.Bytes(), v)
	if err == nil && len(unknown) > 0 {
		err = fmt.Errorf("unknown fields %s", strings.Join(unknown, ", "))
	}
	return err
}

type jsonWalker struct{ unknown []string }

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
		var items []json.RawMessage
		if err := json.Unmarshal(data, &items); err != nil {
			return atPath(path, err)
		}
		s := reflect.MakeSlice(t, len(items), len(items))
		for i, item := range items {
			if err := d.value(item, s.Index(i), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && walkable(t.Elem()) && startsWith(data, '{'):
		var members map[string]json.RawMessage
		if err := json.Unmarshal(data, &members); err != nil {
			return atPath(path, err)
		}
		if v.IsNil() {
			v.Set(reflect.MakeMapWithSize(t, len(members)))
		}
		for _, key := range sortedKeys(members) {
			item := reflect.New(t.Elem()).Elem()
			if err := d.value(members[key], item, joinPath(path, key)); err != nil {
				return err
			}
			v.SetMapIndex(reflect.ValueOf(key).Convert(t.Key()), item)
		}
		return nil
	}
	// A leaf, null, or a value of the wrong kind: encoding/json decodes it or says what is wrong.
	if err := json.Unmarshal(data, v.Addr().Interface()); err != nil {
		return atPath(path, err)
	}
	return nil
}

// object decodes the members of a JSON object into the struct v.
func (d *jsonWalker) object(data []byte, v reflect.Value, path string) error {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return atPath(path, err)
	}
	fields := structFields(v.Type())
	for _, name := range sortedKeys(members) {
		f, ok := fields.lookup(name)
		if !ok {
			d.unknown = append(d.unknown, joinPath(path, name))
			continue
		}
		if err := d.value(members[name], v.FieldByIndex(f.index), joinPath(path, f.name)); err != nil {
			return err
		}
	}
	return nil
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// walkable reports whether values of type t are walked member by member: a struct, or a
// pointer to one, that does not decode itself and whose embedded fields are plain structs.
func walkable(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return false
	}
	p := reflect.PointerTo(t)
	return !p.Implements(jsonUnmarshaler) && !p.Implements(textUnmarshaler) && structFields(t).ok
}

// jsonField is a struct field as encoding/json names it.
type jsonField struct {
	name      string
	index     []int
	omitEmpty bool   // the tag's ",omitempty"
	key       []byte // name as a JSON string and a colon, for encodeJSON
}

type jsonFields struct {
	list []jsonField // in encoding/json's order: by index, embedded fields where they sit
	ok   bool        // false: an embedded field that is not a plain struct; encoding/json decodes t
	// encodable: no field asks for an option that encodeJSON leaves to encoding/json
	// (",string", ",omitzero")
	encodable bool
}

func (fs jsonFields) lookup(name string) (jsonField, bool) {
	for _, f := range fs.list {
		if f.name == name {
			return f, true
		}
	}
	for _, f := range fs.list {
		if strings.EqualFold(f.name, name) {
			return f, true
		}
	}
	return jsonField{}, false
}

var fieldCache sync.Map // reflect.Type -> jsonFields

// structFields lists the fields of struct type t under their json names, with the fields of
// embedded structs promoted unless a shallower field has the same name.
func structFields(t reflect.Type) jsonFields {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(jsonFields)
	}
	fs := jsonFields{ok: true, encodable: true}
	var embedded []jsonField
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
		options := strings.Split(opts, ",")
		if slices.Contains(options, "string") || slices.Contains(options, "omitzero") {
			fs.encodable = false
		}
		fs.list = append(fs.list, jsonField{name: name, index: []int{i},
			omitEmpty: slices.Contains(options, "omitempty"), key: jsonKey(name)})
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

func startsWith(data []byte, c byte) bool {
	data = bytes.TrimLeft(data, " \t\r\n")
	return len(data) > 0 && data[0] == c
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
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
