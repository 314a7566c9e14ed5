package logging

import (
	"encoding/json"
	"math"
	"time"

	"go.uber.org/zap/zapcore"
)

// NewMaskingCore wraps inner so that every entry's message, stack trace and fields are masked
// before inner encodes them: values under personal-data keys (see SensitiveKey) become "***"
// and person ids anywhere (see MaskString) are masked. Fields of every type are covered,
// including errors, Stringers, zap.Object/zap.Array marshalers, nested objects and arrays,
// and reflected values (zap.Any of maps and structs), which are masked through their JSON form.
//
// inner's own Check is bypassed (only its Enabled is consulted), so wrap a plain ioCore or
// tee, not a sampler.
func NewMaskingCore(inner zapcore.Core) zapcore.Core { return &maskingCore{inner: inner} }

type maskingCore struct {
	inner zapcore.Core
	// maskAll is set after a zap.Namespace with a sensitive key: every later field lives
	// inside it (e.g. Namespace("address") then String("city", …)).
	maskAll bool
}

func (c *maskingCore) Enabled(l zapcore.Level) bool { return c.inner.Enabled(l) }

// Level lets zap.Logger.Level and zapcore.LevelOf see through the wrapper.
func (c *maskingCore) Level() zapcore.Level { return zapcore.LevelOf(c.inner) }

func (c *maskingCore) With(fields []zapcore.Field) zapcore.Core {
	fs, maskAll := c.maskFields(fields)
	return &maskingCore{inner: c.inner.With(fs), maskAll: maskAll}
}

func (c *maskingCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

func (c *maskingCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	ent.Message = MaskString(ent.Message)
	if ent.Stack != "" {
		ent.Stack = MaskString(ent.Stack)
	}
	fs, _ := c.maskFields(fields)
	return c.inner.Write(ent, fs)
}

func (c *maskingCore) Sync() error { return c.inner.Sync() }

// maskFields returns masked copies of fields; it copies only when a field changes.
func (c *maskingCore) maskFields(fields []zapcore.Field) ([]zapcore.Field, bool) {
	maskAll := c.maskAll
	var out []zapcore.Field
	for i, f := range fields {
		g, wrapped := maskField(f, maskAll)
		if f.Type == zapcore.NamespaceType && SensitiveKey(f.Key) {
			maskAll = true
		}
		if out == nil {
			// Not g == f: Interface may hold an incomparable value such as []byte.
			if !wrapped && g.Type == f.Type && g.Key == f.Key && g.String == f.String && g.Integer == f.Integer {
				continue
			}
			out = make([]zapcore.Field, len(fields))
			copy(out, fields[:i])
		}
		out[i] = g
	}
	if out == nil {
		return fields, maskAll
	}
	return out, maskAll
}

// maskField handles the common primitive types directly (no allocation when nothing
// changes) and routes every other type through maskingObjectEncoder via an inline marshaler,
// reporting true in that case.
func maskField(f zapcore.Field, maskAll bool) (zapcore.Field, bool) {
	key := MaskString(f.Key)
	switch f.Type {
	case zapcore.SkipType:
		return f, false
	case zapcore.NamespaceType:
		f.Key = key
		return f, false
	}
	if maskAll || SensitiveKey(f.Key) {
		return zapcore.Field{Key: key, Type: zapcore.StringType, String: masked}, false
	}
	switch f.Type {
	case zapcore.StringType:
		f.Key, f.String = key, MaskString(f.String)
		return f, false
	case zapcore.BoolType, zapcore.DurationType, zapcore.TimeType, zapcore.TimeFullType,
		zapcore.Float32Type, zapcore.Complex64Type, zapcore.Complex128Type, zapcore.UintptrType, zapcore.BinaryType,
		zapcore.Int32Type, zapcore.Int16Type, zapcore.Int8Type, zapcore.Uint32Type, zapcore.Uint16Type, zapcore.Uint8Type:
		// Too small to hold a 10-digit number (or not text at all).
		f.Key = key
		return f, false
	case zapcore.Int64Type:
		if f.Integer >= 0 {
			if m, ok := maskInt(uint64(f.Integer)); ok {
				return zapcore.Field{Key: key, Type: zapcore.StringType, String: m}, false
			}
		}
		f.Key = key
		return f, false
	case zapcore.Uint64Type:
		if m, ok := maskInt(uint64(f.Integer)); ok {
			return zapcore.Field{Key: key, Type: zapcore.StringType, String: m}, false
		}
		f.Key = key
		return f, false
	case zapcore.Float64Type:
		if v := math.Float64frombits(uint64(f.Integer)); v >= 0 && v == math.Trunc(v) && v < 1e13 {
			if m, ok := maskInt(uint64(v)); ok {
				return zapcore.Field{Key: key, Type: zapcore.StringType, String: m}, false
			}
		}
		f.Key = key
		return f, false
	}
	f.Key = key
	return zapcore.Field{Type: zapcore.InlineMarshalerType, Interface: inlineField{f}}, true
}

// inlineField encodes its field through a masking encoder. As an inline marshaler it writes
// the field's own key(s) straight into the enclosing object.
type inlineField struct{ f zapcore.Field }

func (m inlineField) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	// AddTo reports encoding failures itself as "<key>Error" fields, through enc.
	m.f.AddTo(&maskingObjectEncoder{enc: enc})
	return nil
}

// maskedObject and maskedArray let nested marshalers write through masking encoders.
type maskedObject struct{ obj zapcore.ObjectMarshaler }

func (m maskedObject) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	return m.obj.MarshalLogObject(&maskingObjectEncoder{enc: enc})
}

type maskedArray struct{ arr zapcore.ArrayMarshaler }

func (m maskedArray) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	return m.arr.MarshalLogArray(&maskingArrayEncoder{enc: enc})
}

// maskReflected masks v through its JSON encoding. If v cannot be encoded as JSON, the
// error (masked) is logged instead of v, as zap's JSON encoder would do.
func maskReflected(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	m, err := maskJSON(b)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(m), nil
}

// maskingObjectEncoder masks everything written through it and passes it on to enc.
type maskingObjectEncoder struct {
	enc     zapcore.ObjectEncoder
	maskAll bool // inside a namespace with a sensitive key
}

func (e *maskingObjectEncoder) hide(key string) bool { return e.maskAll || SensitiveKey(key) }

func (e *maskingObjectEncoder) AddArray(key string, arr zapcore.ArrayMarshaler) error {
	if e.hide(key) {
		e.enc.AddString(MaskString(key), masked)
		return nil
	}
	return e.enc.AddArray(MaskString(key), maskedArray{arr})
}

func (e *maskingObjectEncoder) AddObject(key string, obj zapcore.ObjectMarshaler) error {
	if e.hide(key) {
		e.enc.AddString(MaskString(key), masked)
		return nil
	}
	return e.enc.AddObject(MaskString(key), maskedObject{obj})
}

func (e *maskingObjectEncoder) AddBinary(key string, v []byte) {
	if e.hide(key) {
		e.enc.AddString(MaskString(key), masked)
		return
	}
	e.enc.AddBinary(MaskString(key), v)
}

func (e *maskingObjectEncoder) AddByteString(key string, v []byte) {
	e.AddString(key, string(v))
}

func (e *maskingObjectEncoder) AddString(key, v string) {
	if e.hide(key) {
		v = masked
	}
	e.enc.AddString(MaskString(key), MaskString(v))
}

func (e *maskingObjectEncoder) AddReflected(key string, v any) error {
	if e.hide(key) {
		e.enc.AddString(MaskString(key), masked)
		return nil
	}
	m, err := maskReflected(v)
	if err != nil {
		return err
	}
	return e.enc.AddReflected(MaskString(key), m)
}

func (e *maskingObjectEncoder) OpenNamespace(key string) {
	if SensitiveKey(key) {
		e.maskAll = true
	}
	e.enc.OpenNamespace(MaskString(key))
}

// addOther writes a non-text value unless its key is sensitive.
func (e *maskingObjectEncoder) addOther(key string, add func(string)) {
	if e.hide(key) {
		e.enc.AddString(MaskString(key), masked)
		return
	}
	add(MaskString(key))
}

func (e *maskingObjectEncoder) addInt(key string, n int64, add func(string)) {
	if n >= 0 {
		if m, ok := maskInt(uint64(n)); ok {
			e.AddString(key, m)
			return
		}
	}
	e.addOther(key, add)
}

func (e *maskingObjectEncoder) AddBool(k string, v bool) {
	e.addOther(k, func(k string) { e.enc.AddBool(k, v) })
}
func (e *maskingObjectEncoder) AddComplex128(k string, v complex128) {
	e.addOther(k, func(k string) { e.enc.AddComplex128(k, v) })
}
func (e *maskingObjectEncoder) AddComplex64(k string, v complex64) {
	e.addOther(k, func(k string) { e.enc.AddComplex64(k, v) })
}
func (e *maskingObjectEncoder) AddDuration(k string, v time.Duration) {
	e.addOther(k, func(k string) { e.enc.AddDuration(k, v) })
}
func (e *maskingObjectEncoder) AddFloat64(k string, v float64) {
	if v >= 0 && v == math.Trunc(v) && v < 1e13 {
		e.addInt(k, int64(v), func(k string) { e.enc.AddFloat64(k, v) })
		return
	}
	e.addOther(k, func(k string) { e.enc.AddFloat64(k, v) })
}
func (e *maskingObjectEncoder) AddFloat32(k string, v float32) {
	e.addOther(k, func(k string) { e.enc.AddFloat32(k, v) })
}
func (e *maskingObjectEncoder) AddInt(k string, v int) {
	e.addInt(k, int64(v), func(k string) { e.enc.AddInt(k, v) })
}
func (e *maskingObjectEncoder) AddInt64(k string, v int64) {
	e.addInt(k, v, func(k string) { e.enc.AddInt64(k, v) })
}
func (e *maskingObjectEncoder) AddInt32(k string, v int32) {
	e.addOther(k, func(k string) { e.enc.AddInt32(k, v) })
}
func (e *maskingObjectEncoder) AddInt16(k string, v int16) {
	e.addOther(k, func(k string) { e.enc.AddInt16(k, v) })
}
func (e *maskingObjectEncoder) AddInt8(k string, v int8) {
	e.addOther(k, func(k string) { e.enc.AddInt8(k, v) })
}
func (e *maskingObjectEncoder) AddTime(k string, v time.Time) {
	e.addOther(k, func(k string) { e.enc.AddTime(k, v) })
}
func (e *maskingObjectEncoder) AddUint(k string, v uint) {
	if v <= math.MaxInt64 {
		e.addInt(k, int64(v), func(k string) { e.enc.AddUint(k, v) })
		return
	}
	e.addOther(k, func(k string) { e.enc.AddUint(k, v) })
}
func (e *maskingObjectEncoder) AddUint64(k string, v uint64) {
	if v <= math.MaxInt64 {
		e.addInt(k, int64(v), func(k string) { e.enc.AddUint64(k, v) })
		return
	}
	e.addOther(k, func(k string) { e.enc.AddUint64(k, v) })
}
func (e *maskingObjectEncoder) AddUint32(k string, v uint32) {
	e.addOther(k, func(k string) { e.enc.AddUint32(k, v) })
}
func (e *maskingObjectEncoder) AddUint16(k string, v uint16) {
	e.addOther(k, func(k string) { e.enc.AddUint16(k, v) })
}
func (e *maskingObjectEncoder) AddUint8(k string, v uint8) {
	e.addOther(k, func(k string) { e.enc.AddUint8(k, v) })
}
func (e *maskingObjectEncoder) AddUintptr(k string, v uintptr) {
	e.addOther(k, func(k string) { e.enc.AddUintptr(k, v) })
}

// maskingArrayEncoder is maskingObjectEncoder for array elements.
type maskingArrayEncoder struct{ enc zapcore.ArrayEncoder }

func (e *maskingArrayEncoder) appendInt(n int64, add func()) {
	if n >= 0 {
		if m, ok := maskInt(uint64(n)); ok {
			e.enc.AppendString(m)
			return
		}
	}
	add()
}

func (e *maskingArrayEncoder) AppendArray(v zapcore.ArrayMarshaler) error {
	return e.enc.AppendArray(maskedArray{v})
}
func (e *maskingArrayEncoder) AppendObject(v zapcore.ObjectMarshaler) error {
	return e.enc.AppendObject(maskedObject{v})
}
func (e *maskingArrayEncoder) AppendReflected(v any) error {
	m, err := maskReflected(v)
	if err != nil {
		return err
	}
	return e.enc.AppendReflected(m)
}
func (e *maskingArrayEncoder) AppendString(v string)         { e.enc.AppendString(MaskString(v)) }
func (e *maskingArrayEncoder) AppendByteString(v []byte)     { e.enc.AppendString(MaskString(string(v))) }
func (e *maskingArrayEncoder) AppendBool(v bool)             { e.enc.AppendBool(v) }
func (e *maskingArrayEncoder) AppendComplex128(v complex128) { e.enc.AppendComplex128(v) }
func (e *maskingArrayEncoder) AppendComplex64(v complex64)   { e.enc.AppendComplex64(v) }
func (e *maskingArrayEncoder) AppendDuration(v time.Duration) {
	e.enc.AppendDuration(v)
}
func (e *maskingArrayEncoder) AppendFloat64(v float64) {
	if v >= 0 && v == math.Trunc(v) && v < 1e13 {
		e.appendInt(int64(v), func() { e.enc.AppendFloat64(v) })
		return
	}
	e.enc.AppendFloat64(v)
}
func (e *maskingArrayEncoder) AppendFloat32(v float32) { e.enc.AppendFloat32(v) }
func (e *maskingArrayEncoder) AppendInt(v int)         { e.appendInt(int64(v), func() { e.enc.AppendInt(v) }) }
func (e *maskingArrayEncoder) AppendInt64(v int64)     { e.appendInt(v, func() { e.enc.AppendInt64(v) }) }
func (e *maskingArrayEncoder) AppendInt32(v int32)     { e.enc.AppendInt32(v) }
func (e *maskingArrayEncoder) AppendInt16(v int16)     { e.enc.AppendInt16(v) }
func (e *maskingArrayEncoder) AppendInt8(v int8)       { e.enc.AppendInt8(v) }
func (e *maskingArrayEncoder) AppendTime(v time.Time)  { e.enc.AppendTime(v) }
func (e *maskingArrayEncoder) AppendUint(v uint) {
	if v <= math.MaxInt64 {
		e.appendInt(int64(v), func() { e.enc.AppendUint(v) })
		return
	}
	e.enc.AppendUint(v)
}
func (e *maskingArrayEncoder) AppendUint64(v uint64) {
	if v <= math.MaxInt64 {
		e.appendInt(int64(v), func() { e.enc.AppendUint64(v) })
		return
	}
	e.enc.AppendUint64(v)
}
func (e *maskingArrayEncoder) AppendUint32(v uint32)   { e.enc.AppendUint32(v) }
func (e *maskingArrayEncoder) AppendUint16(v uint16)   { e.enc.AppendUint16(v) }
func (e *maskingArrayEncoder) AppendUint8(v uint8)     { e.enc.AppendUint8(v) }
func (e *maskingArrayEncoder) AppendUintptr(v uintptr) { e.enc.AppendUintptr(v) }
