package chat

import (
	"context"
	"time"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/input"
)

// Rename changes a group's title; owners and admins only.
func (s *Service) Rename(ctx context.Context, userID, convID, title string) (Conversation, error) {
	id, ok := input.ParseID(convID)
	if !ok {
		return Conversation{}, ErrNotFound
	}
	var f fields
	title = checkTitle(&f, "title", title)
	if err := f.err(); err != nil {
		return Conversation{}, err
	}
	err := s.store.InTx(ctx, func(tx Tx) error {
		eventSeq, me, c, err := lockForChange(ctx, tx, id, userID, s.now())
		if err != nil {
			return err
		}
		switch {
		case c.Kind == KindDirect:
			return ErrDirectFixed
		case !me.Role.manages():
			return ErrForbidden
		case c.Title == title:
			return errRollbackNoError
		}
		now := s.now()
		if err := tx.SetTitle(ctx, id, title, now); err != nil {
			return err
		}
		return s.recordConversation(ctx, tx, id, eventSeq, events.TypeConversationUpdated)
	})
	if err != nil && !isNoChange(err) {
		return Conversation{}, err
	}
	return s.store.ConversationFor(ctx, id, userID)
}

// AddMembers adds users to a group; owners and admins may add members,
// only the owner may add admins (role "admin").
func (s *Service) AddMembers(ctx context.Context, userID, convID string, userIDs []string, role Role) (Conversation, error) {
	id, ok := input.ParseID(convID)
	if !ok {
		return Conversation{}, ErrNotFound
	}
	var f fields
	if len(userIDs) == 0 {
		f.add("userIds", "is required")
	}
	if len(userIDs) > MaxMembers {
		f.add("userIds", "at most 256 users at once")
	}
	if role == "" {
		role = RoleMember
	}
	if role != RoleMember && role != RoleAdmin {
		f.add("role", `must be "member" or "admin"`)
	}
	ids := s.checkMemberIDs(&f, "userIds", userIDs, userID)
	if err := f.err(); err != nil {
		return Conversation{}, err
	}
	// Membership is checked before the replica so a non-member learns
	// nothing about which user ids exist.
	if _, err := s.store.ConversationFor(ctx, id, userID); err != nil {
		return Conversation{}, err
	}
	if err := s.requireKnown(ctx, "userIds", ids); err != nil {
		return Conversation{}, err
	}
	err := s.store.InTx(ctx, func(tx Tx) error {
		eventSeq, me, c, err := lockForChange(ctx, tx, id, userID, s.now())
		if err != nil {
			return err
		}
		switch {
		case c.Kind == KindDirect:
			return ErrDirectFixed
		case !me.Role.manages(), role == RoleAdmin && me.Role != RoleOwner:
			return ErrForbidden
		}
		now := s.now()
		added := 0
		for _, uid := range ids {
			ok, err := tx.AddMember(ctx, id, Member{UserID: uid, Role: role, JoinedAt: now}, eventSeq)
			if err != nil {
				return err
			}
			if ok {
				added++
			}
		}
		if added == 0 {
			return errRollbackNoError
		}
		if len(c.Members)+added > MaxMembers {
			return ErrMembersLimit
		}
		if err := tx.TouchConversation(ctx, id, now); err != nil {
			return err
		}
		return s.recordConversation(ctx, tx, id, eventSeq, events.TypeMembersChanged)
	})
	if err != nil && !isNoChange(err) {
		return Conversation{}, err
	}
	return s.store.ConversationFor(ctx, id, userID)
}

// RemoveMember removes target from a group. A member may always remove
// themselves (leave); the owner may remove anyone, an admin only plain
// members. When the owner leaves, the longest-standing admin (else member)
// becomes owner. The removed user still receives this one event.
func (s *Service) RemoveMember(ctx context.Context, userID, convID, targetID string) error {
	id, ok := input.ParseID(convID)
	if !ok {
		return ErrNotFound
	}
	target, ok := input.ParseID(targetID)
	if !ok {
		return ErrNotFound
	}
	err := s.store.InTx(ctx, func(tx Tx) error {
		now := s.now()
		eventSeq, me, c, err := lockForChange(ctx, tx, id, userID, now)
		if err != nil {
			return err
		}
		if c.Kind == KindDirect {
			return ErrDirectFixed
		}
		them, err := tx.Member(ctx, id, target)
		if err != nil {
			return err
		}
		if target != userID {
			switch me.Role {
			case RoleOwner:
			case RoleAdmin:
				if them.Role != RoleMember {
					return ErrForbidden
				}
			default:
				return ErrForbidden
			}
		}
		if err := tx.RemoveMember(ctx, id, target, eventSeq, now); err != nil {
			return err
		}
		if them.Role == RoleOwner {
			if err := promoteSuccessor(ctx, tx, id, c.Members, target); err != nil {
				return err
			}
		}
		if err := tx.TouchConversation(ctx, id, now); err != nil {
			return err
		}
		return s.recordConversation(ctx, tx, id, eventSeq, events.TypeMembersChanged, target)
	})
	return err
}

// promoteSuccessor makes the longest-standing admin, else member, the
// owner; members are ordered by join time.
func promoteSuccessor(ctx context.Context, tx Tx, convID string, members []Member, leaving string) error {
	var next *Member
	for i := range members {
		m := &members[i]
		if m.UserID == leaving {
			continue
		}
		if m.Role == RoleAdmin {
			next = m
			break
		}
		if next == nil {
			next = m
		}
	}
	if next == nil {
		return nil // the last member left; the conversation stays, empty
	}
	return tx.SetRole(ctx, convID, next.UserID, RoleOwner)
}

// lockForChange takes the next eventSeq of conversation id (locking its row,
// which serialises changes to it) and loads the caller's membership and the
// conversation, in that order: membership is checked under the lock.
func lockForChange(ctx context.Context, tx Tx, id, userID string, now time.Time) (int64, Member, Conversation, error) {
	_, eventSeq, err := tx.Bump(ctx, id, false, now)
	if err != nil {
		return 0, Member{}, Conversation{}, err
	}
	me, err := tx.Member(ctx, id, userID)
	if err != nil {
		return 0, Member{}, Conversation{}, err
	}
	c, err := tx.Conversation(ctx, id)
	if err != nil {
		return 0, Member{}, Conversation{}, err
	}
	return eventSeq, me, c, nil
}
