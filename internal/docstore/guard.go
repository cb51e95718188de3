package docstore

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// guard is a compiled guard: conditions that must all hold.
type guard []condition

// condition is one operator applied to the value at a path.
type condition struct {
	field string   // the dotted path as written, for messages
	path  []string // field split at dots
	op    operator
	arg   bson.RawValue   // the operand of every operator but $in and $nin
	args  []bson.RawValue // the operands of $in and $nin
}

// operator is a query operator a guard may use.
type operator int

// The operators of guards.
const (
	opEq operator = iota
	opNe
	opIn
	opNin
	opExists
	opLt
	opLte
	opGt
	opGte
)

// parseOperator returns the operator named name ("$eq", ...).
func parseOperator(name string) (operator, bool) {
	switch name {
	case "$eq":
		return opEq, true
	case "$ne":
		return opNe, true
	case "$in":
		return opIn, true
	case "$nin":
		return opNin, true
	case "$exists":
		return opExists, true
	case "$lt":
		return opLt, true
	case "$lte":
		return opLte, true
	case "$gt":
		return opGt, true
	case "$gte":
		return opGte, true
	}
	return 0, false
}

// compileGuard checks g and turns it into conditions. It works on g's BSON encoding, so Go values of any
// type are seen as the server would see them (a time.Time is a datetime, a named string type a string).
func compileGuard(g bson.D) (guard, error) {
	if len(g) == 0 {
		return nil, nil
	}
	raw, err := bson.Marshal(g)
	if err != nil {
		return nil, fmt.Errorf("docstore: guard: %w", err)
	}
	elems, err := bson.Raw(raw).Elements()
	if err != nil {
		return nil, fmt.Errorf("docstore: guard: %w", err)
	}
	var out guard
	for _, e := range elems {
		field, v := e.Key(), e.Value()
		path, err := splitPath(field)
		if err != nil {
			return nil, err
		}
		if v.Type != bson.TypeEmbeddedDocument {
			if err = checkOperand(field, "equality", v); err != nil {
				return nil, err
			}
			out = append(out, condition{field: field, path: path, op: opEq, arg: v})
			continue
		}
		ops, err := v.Document().Elements()
		if err != nil {
			return nil, fmt.Errorf("docstore: guard on %s: %w", field, err)
		}
		if len(ops) == 0 || !strings.HasPrefix(ops[0].Key(), "$") {
			return nil, fmt.Errorf("docstore: guard on %s: equality with a document is not supported", field)
		}
		for _, o := range ops {
			c, err := compileOperator(field, path, o.Key(), o.Value())
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// splitPath checks a guarded field name and splits it at dots.
func splitPath(field string) ([]string, error) {
	if strings.HasPrefix(field, "$") {
		return nil, fmt.Errorf("docstore: guard: operator %s is not supported; use conditions on fields", field)
	}
	path := strings.Split(field, ".")
	if path[0] == "_id" {
		return nil, fmt.Errorf("docstore: guard on %s: the guard holds conditions on fields other than _id", field)
	}
	for _, p := range path {
		if p == "" || strings.HasPrefix(p, "$") {
			return nil, fmt.Errorf("docstore: guard: field path %q is not supported", field)
		}
	}
	return path, nil
}

// compileOperator compiles {field: {name: v}}.
func compileOperator(field string, path []string, name string, v bson.RawValue) (condition, error) {
	op, ok := parseOperator(name)
	if !ok {
		return condition{}, fmt.Errorf("docstore: guard on %s: operator %s is not supported", field, name)
	}
	c := condition{field: field, path: path, op: op, arg: v}
	switch op {
	case opExists:
		if v.Type != bson.TypeBoolean {
			return condition{}, fmt.Errorf("docstore: guard on %s: $exists takes true or false, not a %s", field, v.Type)
		}
	case opIn, opNin:
		if v.Type != bson.TypeArray {
			return condition{}, fmt.Errorf("docstore: guard on %s: %s takes an array, not a %s", field, name, v.Type)
		}
		args, err := v.Array().Values()
		if err != nil {
			return condition{}, fmt.Errorf("docstore: guard on %s: %w", field, err)
		}
		for _, a := range args {
			if err := checkOperand(field, name, a); err != nil {
				return condition{}, err
			}
		}
		c.arg, c.args = bson.RawValue{}, args
	default:
		if err := checkOperand(field, name, v); err != nil {
			return condition{}, err
		}
	}
	return c, nil
}

// checkOperand accepts the values guards may compare with.
func checkOperand(field, op string, v bson.RawValue) error {
	switch v.Type {
	case bson.TypeDouble:
		if math.IsNaN(v.Double()) {
			// FerretDB v1 cannot store NaN, and MongoDB's rules for it are their own.
			return fmt.Errorf("docstore: guard on %s: %s with NaN is not supported", field, op)
		}
		return nil
	case bson.TypeString, bson.TypeInt32, bson.TypeInt64, bson.TypeBoolean, bson.TypeNull, bson.TypeDateTime:
		return nil
	}
	return fmt.Errorf("docstore: guard on %s: %s with a %s is not supported", field, op, v.Type)
}

// projection is the projection that reads the top-level fields the guard looks at.
func (g guard) projection() bson.D {
	var p bson.D
	seen := make(map[string]bool, len(g))
	for _, c := range g {
		if !seen[c.path[0]] {
			seen[c.path[0]] = true
			p = append(p, bson.E{Key: c.path[0], Value: 1})
		}
	}
	return p
}

// matches reports whether doc satisfies every condition of g.
func (g guard) matches(doc bson.Raw) (bool, error) {
	for _, c := range g {
		v, found, err := lookup(doc, c.path)
		if err != nil {
			return false, fmt.Errorf("field %s: %w", c.field, err)
		}
		ok, err := c.eval(v, found)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// lookup returns the value at path in doc, following embedded documents; found is false when a field on
// the way is missing or is not a document (MongoDB's "missing"). An array on the way is an error: MongoDB
// would match its elements one by one, which guards do not support.
func lookup(doc bson.Raw, path []string) (bson.RawValue, bool, error) {
	cur := doc
	for i, key := range path {
		v, found, err := fieldValue(cur, key)
		if err != nil || !found || i == len(path)-1 {
			return v, found, err
		}
		switch v.Type {
		case bson.TypeEmbeddedDocument:
			cur = v.Document()
		case bson.TypeArray:
			return bson.RawValue{}, false, errors.New("guards through arrays are not supported")
		default:
			return bson.RawValue{}, false, nil
		}
	}
	return bson.RawValue{}, false, nil // not reached: a path has at least one key
}

// fieldValue returns the value of the top-level field key of doc.
func fieldValue(doc bson.Raw, key string) (bson.RawValue, bool, error) {
	elems, err := doc.Elements()
	if err != nil {
		return bson.RawValue{}, false, err
	}
	for _, e := range elems {
		if e.Key() == key {
			return e.Value(), true, nil
		}
	}
	return bson.RawValue{}, false, nil
}

// eval applies c to the value v found (or not) at its path.
func (c condition) eval(v bson.RawValue, found bool) (bool, error) {
	if c.op == opExists {
		return found == c.arg.Boolean(), nil
	}
	if found && v.Type == bson.TypeArray {
		return c.evalArray(v)
	}
	if found {
		switch v.Type {
		case bson.TypeDecimal128, bson.TypeUndefined:
			// MongoDB matches decimals by value and undefined as null: not supported.
			return false, fmt.Errorf("a stored %s is not supported by guards", v.Type)
		case bson.TypeDouble:
			if math.IsNaN(v.Double()) {
				return false, errors.New("a stored NaN is not supported by guards")
			}
		}
	}
	switch c.op {
	case opEq:
		return equal(v, found, c.arg), nil
	case opNe:
		return !equal(v, found, c.arg), nil
	case opIn, opNin:
		in := false
		for _, a := range c.args {
			if equal(v, found, a) {
				in = true
				break
			}
		}
		return in == (c.op == opIn), nil
	default:
		return ordered(c.op, v, found, c.arg), nil
	}
}

// evalArray applies an equality condition to a stored array the way MongoDB does for a value that is not
// an array itself: $eq and $in match when some element is equal, $ne and $nin when none is ("does not
// contain"). An element that is an array or an embedded document equals no guard value. Ordered
// comparisons of arrays are not supported.
func (c condition) evalArray(arr bson.RawValue) (bool, error) {
	positive := condition{field: c.field, path: c.path, op: c.op, arg: c.arg, args: c.args}
	switch c.op {
	case opEq, opIn:
	case opNe:
		positive.op = opEq
	case opNin:
		positive.op = opIn
	default:
		return false, errors.New("ordered comparisons of a stored array are not supported by guards")
	}
	elems, err := arr.Array().Values()
	if err != nil {
		return false, err
	}
	some := false
	for _, e := range elems {
		if e.Type == bson.TypeArray || e.Type == bson.TypeEmbeddedDocument {
			continue
		}
		ok, err := positive.eval(e, true)
		if err != nil {
			return false, err
		}
		if ok {
			some = true
			break
		}
	}
	return some == (c.op == opEq || c.op == opIn), nil
}

// equal is MongoDB's equality match of the value v found (or not) with the operand arg.
func equal(v bson.RawValue, found bool, arg bson.RawValue) bool {
	if arg.Type == bson.TypeNull {
		return !found || v.Type == bson.TypeNull
	}
	if !found {
		return false
	}
	cmp, ok := compare(v, arg)
	return ok && cmp == 0
}

// ordered is MongoDB's match of $lt, $lte, $gt and $gte: values of different kinds never match, except
// that $lte and $gte with null match null and missing fields like an equality.
func ordered(op operator, v bson.RawValue, found bool, arg bson.RawValue) bool {
	if arg.Type == bson.TypeNull {
		return (op == opLte || op == opGte) && (!found || v.Type == bson.TypeNull)
	}
	if !found {
		return false
	}
	cmp, ok := compare(v, arg)
	if !ok {
		return false
	}
	switch op {
	case opLt:
		return cmp < 0
	case opLte:
		return cmp <= 0
	case opGt:
		return cmp > 0
	default:
		return cmp >= 0
	}
}

// kind is a class of BSON types whose values compare with each other.
type kind int

// The kinds guards compare; every other type is kindOther and compares with nothing.
const (
	kindOther kind = iota
	kindNull
	kindNumber
	kindString
	kindBool
	kindDate
)

// kindOf returns the kind of v.
func kindOf(v bson.RawValue) kind {
	switch v.Type {
	case bson.TypeNull:
		return kindNull
	case bson.TypeInt32, bson.TypeInt64, bson.TypeDouble:
		return kindNumber
	case bson.TypeString:
		return kindString
	case bson.TypeBoolean:
		return kindBool
	case bson.TypeDateTime:
		return kindDate
	}
	return kindOther
}

// compare orders a and b when they are of the same kind (ok), as MongoDB does: numbers by value whatever
// their types, strings byte by byte, false before true, datetimes in time.
func compare(a, b bson.RawValue) (cmp int, ok bool) {
	k := kindOf(a)
	if k == kindOther || k != kindOf(b) {
		return 0, false
	}
	switch k {
	case kindNull:
		return 0, true
	case kindNumber:
		return compareNumbers(a, b), true
	case kindString:
		return strings.Compare(a.StringValue(), b.StringValue()), true
	case kindBool:
		return compareInts(boolInt(a.Boolean()), boolInt(b.Boolean())), true
	default:
		return compareInts(a.DateTime(), b.DateTime()), true
	}
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func compareInts(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compareNumbers compares two numbers (neither is NaN: see checkOperand and eval) exactly, including an
// int64 beyond 2^53 with a double.
func compareNumbers(a, b bson.RawValue) int {
	ai, aInt := integer(a)
	bi, bInt := integer(b)
	switch {
	case aInt && bInt:
		return compareInts(ai, bi)
	case aInt:
		return compareIntFloat(ai, b.Double())
	case bInt:
		return -compareIntFloat(bi, a.Double())
	}
	af, bf := a.Double(), b.Double()
	switch {
	case af < bf:
		return -1
	case af > bf:
		return 1
	}
	return 0
}

// integer returns the value of an int32 or int64.
func integer(v bson.RawValue) (int64, bool) {
	switch v.Type {
	case bson.TypeInt32:
		return int64(v.Int32()), true
	case bson.TypeInt64:
		return v.Int64(), true
	}
	return 0, false
}

// compareIntFloat compares i with f (not NaN) without rounding i to a double.
func compareIntFloat(i int64, f float64) int {
	const two63 = 1 << 63 // as a float64, exactly 2^63
	switch {
	case f >= two63:
		return -1
	case f < -two63:
		return 1
	}
	t := math.Trunc(f) // in [-2^63, 2^63): converts exactly
	if c := compareInts(i, int64(t)); c != 0 {
		return c
	}
	switch {
	case f > t:
		return -1
	case f < t:
		return 1
	}
	return 0
}
