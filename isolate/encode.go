package isolate

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// encodeJSON returns the JSON encoding of v, byte for byte what json.Marshal returns.
//
// Why not json.Marshal: as with decoding (see decodeJSON), the first time a process encodes a
// struct type, encoding/json works out the fields of every type reachable from it and builds
// an encoder for each. For init's config (the spec's process, mounts and hooks), the state and
// a sync message, that is 0.46-0.54 ms in a fresh process on the development VM, paid by every
// `contain run` before the fork. Here structs, lists and maps of structs are written member by
// member from the field lists decodeJSON keeps, plain strings, booleans and integers are
// written directly (encodeFastLeaf), and only the other leaves (floats, strings that need
// escaping, types that encode themselves) go through encoding/json.
func encodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := encodeValue(&b, reflect.ValueOf(v)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// encodeValue appends the encoding of v to b.
func encodeValue(b *bytes.Buffer, v reflect.Value) error {
	if !v.IsValid() {
		b.WriteString("null")
		return nil
	}
	t := v.Type()
	switch {
	case encodable(t):
		if t.Kind() == reflect.Pointer {
			if v.IsNil() {
				b.WriteString("null")
				return nil
			}
			v = v.Elem()
		}
		return encodeStruct(b, v)
	case isFastLeaf(t):
		encodeFastLeaf(b, v)
		return nil
	case t.Kind() == reflect.Pointer && isFastLeaf(t.Elem()):
		if v.IsNil() {
			b.WriteString("null")
		} else {
			encodeFastLeaf(b, v.Elem())
		}
		return nil
	case t.Kind() == reflect.Slice && (encodable(t.Elem()) || isFastLeaf(t.Elem()) && t.Elem().Kind() != reflect.Uint8):
		if v.IsNil() {
			b.WriteString("null")
			return nil
		}
		b.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := encodeValue(b, v.Index(i)); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && (encodable(t.Elem()) || isFastLeaf(t.Elem())):
		if v.IsNil() {
			b.WriteString("null")
			return nil
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeKey(b, k.String())
			if err := encodeValue(b, v.MapIndex(k)); err != nil {
				return err
			}
		}
		b.WriteByte('}')
		return nil
	}
	// A leaf. A value whose pointer type has the MarshalJSON or MarshalText method is encoded
	// through that method when it is addressable, as encoding/json does.
	leaf := v.Interface()
	if v.CanAddr() && t.Kind() != reflect.Pointer {
		p := reflect.PointerTo(t)
		if p.Implements(jsonMarshaler) || p.Implements(textMarshaler) {
			leaf = v.Addr().Interface()
		}
	}
	data, err := json.Marshal(leaf)
	if err != nil {
		return err
	}
	b.Write(data)
	return nil
}

// isFastLeaf reports whether values of type t are strings, booleans or integers that
// encodeFastLeaf writes itself: those that do not encode themselves.
func isFastLeaf(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		p := reflect.PointerTo(t)
		return !p.Implements(jsonMarshaler) && !p.Implements(textMarshaler)
	}
	return false
}

// encodeFastLeaf appends a value isFastLeaf accepts. A string with a character that
// encoding/json escapes goes through encoding/json.
func encodeFastLeaf(b *bytes.Buffer, v reflect.Value) {
	var scratch [24]byte
	switch v.Kind() {
	case reflect.String:
		if s := v.String(); !needsEscape(s) {
			b.WriteByte('"')
			b.WriteString(s)
			b.WriteByte('"')
			return
		}
		data, _ := json.Marshal(v.String()) // a string always encodes
		b.Write(data)
	case reflect.Bool:
		b.Write(strconv.AppendBool(scratch[:0], v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b.Write(strconv.AppendInt(scratch[:0], v.Int(), 10))
	default:
		b.Write(strconv.AppendUint(scratch[:0], v.Uint(), 10))
	}
}

// needsEscape reports whether encoding/json writes s other than as itself between quotes:
// control characters, quote, backslash, the HTML characters <, > and &, and every byte
// beyond ASCII (which covers invalid UTF-8, U+2028 and U+2029) are left to it.
func needsEscape(s string) bool {
	for i := range len(s) {
		if c := s[i]; c < ' ' || c > '~' || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return true
		}
	}
	return false
}

// writeKey appends name as encoding/json writes an object's key: a JSON string, then a
// colon.
func writeKey(b *bytes.Buffer, name string) {
	if needsEscape(name) {
		key, _ := json.Marshal(name) // a string always encodes
		b.Write(key)
	} else {
		b.WriteByte('"')
		b.WriteString(name)
		b.WriteByte('"')
	}
	b.WriteByte(':')
}

// encodeStruct appends the members of the struct v, in encoding/json's order.
func encodeStruct(b *bytes.Buffer, v reflect.Value) error {
	b.WriteByte('{')
	first := true
	for _, f := range structFields(v.Type()).list {
		fv := v.FieldByIndex(f.index)
		if f.omitEmpty && isEmptyValue(fv) {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeKey(b, f.name)
		if err := encodeValue(b, fv); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

// encodable reports whether values of type t are written member by member: a struct, or a
// pointer to one, that does not encode itself, whose embedded fields are plain structs and
// whose fields ask for no option left to encoding/json.
func encodable(t reflect.Type) bool {
	fs, ok := memberwise(t, jsonMarshaler, textMarshaler)
	return ok && fs.ok && fs.encodable
}

// isEmptyValue is encoding/json's test for ",omitempty".
func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}
