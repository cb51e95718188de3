package docstore

import (
	"errors"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

func TestSplitInsertError(t *testing.T) {
	if got := splitWriteError(nil, 3); slices.ContainsFunc(got, func(e error) bool { return e != nil }) {
		t.Errorf("no error: %v", got)
	}
	broken := errors.New("connection reset")
	for i, e := range splitWriteError(broken, 3) {
		if !errors.Is(e, broken) {
			t.Errorf("document %d of a failed command: %v", i, e)
		}
	}
	dup := mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{{WriteError: mongo.WriteError{Index: 1, Code: 11000, Message: "E11000 duplicate key"}}}}
	got := splitWriteError(dup, 3)
	if got[0] != nil || got[2] != nil || !IsDuplicateKey(got[1]) {
		t.Errorf("a duplicate in the middle: %v", got)
	}
	unknown := mongo.BulkWriteException{WriteConcernError: &mongo.WriteConcernError{Code: 64, Message: "timeout"}}
	for i, e := range splitWriteError(unknown, 2) {
		if e == nil {
			t.Errorf("document %d with a write concern error: nil", i)
		}
	}
}
