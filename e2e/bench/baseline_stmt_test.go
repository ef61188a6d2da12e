package bench

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// TestBaselineStatement holds the baseline's one statement to the
// guarantees it stands for: seq per conversation from 1 with no gap, a
// retried clientMsgId returns the original without using a seq, and a
// non-member is refused.
func TestBaselineStatement(t *testing.T) {
	db := newBaselineDB(t, 2, 2)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	a, other := db.convs[0], db.convs[1]

	firstID, seq, err := send(ctx, conn, a.id, a.senders[0], "m1", "one")
	if err != nil || seq != 1 {
		t.Fatalf("first send: seq %d, err %v; want seq 1", seq, err)
	}
	if _, seq, err := send(ctx, conn, a.id, a.senders[1], "m1", "same id, other sender"); err != nil || seq != 2 {
		t.Fatalf("other sender, same clientMsgId: seq %d, err %v; want seq 2", seq, err)
	}
	id, seq, err := send(ctx, conn, a.id, a.senders[0], "m1", "retry")
	if err != nil || id != firstID || seq != 1 {
		t.Fatalf("retry: id %s seq %d err %v; want the original %s seq 1", id, seq, err, firstID)
	}
	if _, seq, err := send(ctx, conn, a.id, a.senders[0], "m2", "two"); err != nil || seq != 3 {
		t.Fatalf("after a retry: seq %d, err %v; want 3 (the retry used no seq)", seq, err)
	}
	if _, seq, err := send(ctx, conn, other.id, other.senders[0], "m1", "elsewhere"); err != nil || seq != 1 {
		t.Fatalf("other conversation: seq %d, err %v; want its own seq 1", seq, err)
	}
	if _, _, err := send(ctx, conn, a.id, uuid.Must(uuid.NewV7()), "m3", "stranger"); !isRefused(err) {
		t.Fatalf("non-member: err %v; want no row (refused)", err)
	}
	if _, _, err := send(ctx, conn, a.id, other.senders[0], "m4", "member elsewhere"); !isRefused(err) {
		t.Fatalf("member of another conversation: err %v; want no row (refused)", err)
	}
	var n, maxSeq int64
	if err := conn.QueryRow(ctx, `SELECT seq, (SELECT count(*) FROM msg WHERE conv_id = $1) FROM conv WHERE id = $1`, a.id).Scan(&maxSeq, &n); err != nil {
		t.Fatal(err)
	}
	if n != 3 || maxSeq != 3 {
		t.Errorf("conversation: %d messages, seq %d; want 3 and 3", n, maxSeq)
	}
}
