package harness

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Stacks in test binaries running side by side grant the admin role the
// same service roles at once; every grant must succeed, the first ones
// included.
func TestGrantMembershipConcurrently(t *testing.T) {
	infra := LoadInfra(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, infra.PGAdminURL)
	if err != nil {
		t.Fatal(err)
	}
	// Closed after the roles are dropped (cleanups run last first).
	t.Cleanup(func() { _ = admin.Close(context.Background()) })
	for round := range 20 {
		role := fmt.Sprintf("e2e_grant_race_%d_%d", time.Now().UnixNano(), round)
		if _, err := admin.Exec(ctx, `CREATE ROLE `+pgx.Identifier{role}.Sanitize()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if _, err := admin.Exec(context.Background(), `DROP ROLE IF EXISTS `+pgx.Identifier{role}.Sanitize()); err != nil {
				t.Errorf("drop role %s: %v", role, err)
			}
		})
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				c, err := pgx.Connect(ctx, infra.PGAdminURL)
				if err != nil {
					errs <- err
					return
				}
				defer c.Close(context.WithoutCancel(ctx))
				if _, err := c.Exec(ctx, grantMembership(role)); err != nil {
					errs <- fmt.Errorf("%s: %w", grantMembership(role), err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}
