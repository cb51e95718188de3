package docstore

import (
	"math"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// applyUpdate returns doc as update leaves it, when this package can tell that without the store, and
// false otherwise. On the embedded store the Updater knows a document before its update (it remembers
// it); knowing it after as well lets the update go to the store as a statement of a batched update
// command, which answers with counts only, instead of a findAndModify of its own (see batcher).
//
// The update document it evaluates has MongoDB's semantics for this subset, on top-level fields other
// than _id, each named by one operator only:
//
//   - $set: {field: value}; $unset: {field: ""} (a missing field stays missing);
//   - $inc: an int64 amount on an int64 or missing field (a missing field becomes the amount), without
//     overflow;
//   - $push: {field: value} onto an array or missing field (no $each or other modifier);
//   - $pull: {field: "string"} and $pullAll: {field: ["string", ...]} from an array or missing field,
//     removing every element equal to one of the strings.
//
// Anything else (another operator, a dotted or $-prefixed field, a type outside those) is false, and the
// Updater sends the update as before. TestApplyUpdateAgreesWithTheStore checks each case against what
// the embedded store itself makes of it.
func applyUpdate(doc, update bson.Raw) (bson.Raw, bool) {
	fields, err := doc.Elements()
	if err != nil {
		return nil, false
	}
	ops, err := update.Elements()
	if err != nil || len(ops) == 0 {
		return nil, false
	}
	out := make([]bsoncore.Value, len(fields))
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.Key()
		v := f.Value()
		out[i] = bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value}
	}
	removed := make([]bool, len(fields))
	touched := make(map[string]bool)
	for _, op := range ops {
		args, ok := op.Value().DocumentOK()
		if !ok {
			return nil, false
		}
		elems, err := args.Elements()
		if err != nil || len(elems) == 0 {
			return nil, false
		}
		for _, a := range elems {
			k := a.Key()
			if k == "" || k == "_id" || strings.HasPrefix(k, "$") || strings.Contains(k, ".") || touched[k] {
				return nil, false
			}
			touched[k] = true
			i := -1
			for j, key := range keys {
				if key == k && !removed[j] {
					i = j
					break
				}
			}
			v := a.Value()
			arg := bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value}
			var nv bsoncore.Value
			switch op.Key() {
			case "$set":
				nv = arg
			case "$unset":
				if i >= 0 {
					removed[i] = true
				}
				continue
			case "$inc":
				if nv, ok = inc(out, i, v); !ok {
					return nil, false
				}
			case "$push":
				if nv, ok = push(out, i, arg); !ok {
					return nil, false
				}
			case "$pull", "$pullAll":
				if nv, ok = pull(out, i, op.Key(), v); !ok {
					return nil, false
				}
				if i < 0 {
					continue // nothing to pull from
				}
			default:
				return nil, false
			}
			if i >= 0 {
				out[i] = nv
			} else {
				keys, out, removed = append(keys, k), append(out, nv), append(removed, false)
			}
		}
	}
	// Fields the update adds go last, in lexicographic order, as MongoDB (since 5.0) and FerretDB add them.
	order := make([]int, 0, len(keys))
	for i := range keys {
		order = append(order, i)
	}
	slices.SortStableFunc(order[len(fields):], func(a, b int) int { return strings.Compare(keys[a], keys[b]) })
	var elems [][]byte
	for _, i := range order {
		if !removed[i] {
			elems = append(elems, bsoncore.AppendValueElement(nil, keys[i], out[i]))
		}
	}
	return bson.Raw(bsoncore.BuildDocument(nil, elems...)), true
}

// inc is $inc of v on out[i] (i < 0: a missing field).
func inc(out []bsoncore.Value, i int, v bson.RawValue) (bsoncore.Value, bool) {
	amount, ok := v.Int64OK()
	if !ok {
		return bsoncore.Value{}, false
	}
	cur := int64(0)
	if i >= 0 {
		if cur, ok = out[i].Int64OK(); !ok {
			return bsoncore.Value{}, false
		}
	}
	if (amount > 0 && cur > math.MaxInt64-amount) || (amount < 0 && cur < math.MinInt64-amount) {
		return bsoncore.Value{}, false
	}
	return bsoncore.Value{Type: bsoncore.TypeInt64, Data: bsoncore.AppendInt64(nil, cur+amount)}, true
}

// push is $push of arg onto out[i] (i < 0: a missing field).
func push(out []bsoncore.Value, i int, arg bsoncore.Value) (bsoncore.Value, bool) {
	if d, ok := arg.DocumentOK(); ok {
		if first, err := d.IndexErr(0); err == nil && strings.HasPrefix(first.Key(), "$") {
			return bsoncore.Value{}, false // $each, $slice...: modifiers
		}
	}
	var values []bsoncore.Value
	if i >= 0 {
		arr, ok := out[i].ArrayOK()
		if !ok {
			return bsoncore.Value{}, false
		}
		var err error
		if values, err = arr.Values(); err != nil {
			return bsoncore.Value{}, false
		}
	}
	values = append(values, arg)
	return bsoncore.Value{Type: bsoncore.TypeArray, Data: bsoncore.BuildArray(nil, values...)}, true
}

// pull is $pull ("string") or $pullAll (["string", ...]) of v from out[i] (i < 0: a missing field, left
// missing).
func pull(out []bsoncore.Value, i int, op string, v bson.RawValue) (bsoncore.Value, bool) {
	var drop []string
	if op == "$pull" {
		s, ok := v.StringValueOK()
		if !ok {
			return bsoncore.Value{}, false
		}
		drop = []string{s}
	} else {
		arr, ok := v.ArrayOK()
		if !ok {
			return bsoncore.Value{}, false
		}
		vals, err := arr.Values()
		if err != nil {
			return bsoncore.Value{}, false
		}
		for _, e := range vals {
			s, ok := e.StringValueOK()
			if !ok {
				return bsoncore.Value{}, false
			}
			drop = append(drop, s)
		}
	}
	if i < 0 {
		return bsoncore.Value{}, true
	}
	arr, ok := out[i].ArrayOK()
	if !ok {
		return bsoncore.Value{}, false
	}
	values, err := arr.Values()
	if err != nil {
		return bsoncore.Value{}, false
	}
	kept := values[:0]
	for _, e := range values {
		s, isString := e.StringValueOK()
		if isString && slices.Contains(drop, s) {
			continue
		}
		kept = append(kept, e)
	}
	return bsoncore.Value{Type: bsoncore.TypeArray, Data: bsoncore.BuildArray(nil, kept...)}, true
}
