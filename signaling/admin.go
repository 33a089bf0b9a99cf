package signaling

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/confab/confab/internal/auth"
	"github.com/confab/confab/rooms"
)

// The admin HTTP API, under /api/v1, documented in docs/api.md. Every request
// needs "Authorization: Bearer <token>" with a token that has the admin
// claim; without auth.keys the API is off.

// apiError is the body of every error response.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func sendAPIError(c *fiber.Ctx, status int, code, message string) error {
	var body apiError
	body.Error.Code, body.Error.Message = code, message
	return c.Status(status).JSON(body)
}

// roomSummary is one room in the list.
type roomSummary struct {
	Name         string `json:"name"`
	Participants int    `json:"participants"`
}

// roomDetail is one room with its participants and their tracks.
type roomDetail struct {
	Name         string              `json:"name"`
	Participants []participantDetail `json:"participants"`
}

type participantDetail struct {
	ID     string        `json:"id"`
	Name   string        `json:"name"`
	Tracks []trackDetail `json:"tracks"`
}

type trackDetail struct {
	TrackID        string  `json:"trackId"`
	Kind           string  `json:"kind"`
	Source         string  `json:"source"`
	Muted          bool    `json:"muted"`
	ModeratorMuted bool    `json:"moderatorMuted"`
	Codec          string  `json:"codec,omitempty"`
	Bitrate        float64 `json:"bitrate"`
	Packets        uint64  `json:"packets"`
	Bytes          uint64  `json:"bytes"`
	Lost           uint64  `json:"lost"`
	Subscribers    int     `json:"subscribers"`
}

func (s *Server) adminRoutes() {
	api := s.app.Group("/api/v1", s.requireAdmin)
	api.Get("/rooms", s.listRooms)
	api.Get("/rooms/:room", s.getRoom)
	api.Delete("/rooms/:room", s.closeRoom)
	api.Post("/rooms/:room/participants/:id/kick", s.kickParticipant)
	api.Post("/rooms/:room/participants/:id/tracks/:track/mute", s.muteTrack)
	api.Use(func(c *fiber.Ctx) error {
		return sendAPIError(c, fiber.StatusNotFound, "not-found", "no such endpoint")
	})
}

// requireAdmin lets through requests whose bearer token has the admin claim.
func (s *Server) requireAdmin(c *fiber.Ctx) error {
	if !s.opts.Auth.Enabled() {
		return sendAPIError(c, fiber.StatusForbidden, "disabled", "the admin API needs auth.keys")
	}
	tok, ok := auth.BearerToken(c.Get(fiber.HeaderAuthorization))
	if !ok {
		return sendAPIError(c, fiber.StatusUnauthorized, "unauthorized", "send Authorization: Bearer <token>")
	}
	claims, err := s.opts.Auth.Verify(tok)
	if err != nil {
		return sendAPIError(c, fiber.StatusUnauthorized, "unauthorized", err.Error())
	}
	if !claims.Admin {
		return sendAPIError(c, fiber.StatusForbidden, "forbidden", "the token has no admin claim")
	}
	return c.Next()
}

func (s *Server) listRooms(c *fiber.Ctx) error {
	out := []roomSummary{}
	for _, name := range s.opts.Rooms.Rooms() {
		if r := s.opts.Rooms.Room(name); r != nil {
			out = append(out, roomSummary{Name: name, Participants: len(r.Participants())})
		}
	}
	return c.JSON(map[string]any{"rooms": out})
}

// room finds the room named in the path, or answers 404.
func (s *Server) room(c *fiber.Ctx) (*rooms.Room, error) {
	name, err := url.PathUnescape(c.Params("room"))
	if err == nil {
		if r := s.opts.Rooms.Room(name); r != nil {
			return r, nil
		}
	}
	return nil, sendAPIError(c, fiber.StatusNotFound, "no-room", "no such room")
}

func (s *Server) getRoom(c *fiber.Ctx) error {
	r, err := s.room(c)
	if r == nil {
		return err
	}
	d := roomDetail{Name: r.Name(), Participants: []participantDetail{}}
	for _, p := range r.Participants() {
		pd := participantDetail{ID: p.ID, Name: p.Name, Tracks: []trackDetail{}}
		for _, t := range p.Tracks {
			td := trackDetail{TrackID: t.ID, Kind: t.Kind, Source: t.Source, Muted: t.Muted, ModeratorMuted: t.ModeratorMuted}
			if m := t.Media; m != nil {
				td.Codec = m.Codec().MimeType
				td.Bitrate, td.Packets, td.Bytes, td.Lost, td.Subscribers = m.Bitrate(), m.Packets(), m.Bytes(), m.Lost(), m.Subscribers()
			}
			pd.Tracks = append(pd.Tracks, td)
		}
		d.Participants = append(d.Participants, pd)
	}
	return c.JSON(d)
}

func (s *Server) closeRoom(c *fiber.Ctx) error {
	r, err := s.room(c)
	if r == nil {
		return err
	}
	r.Close("the room was closed by a moderator")
	s.log.Info("admin: room closed", "room", r.Name())
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) kickParticipant(c *fiber.Ctx) error {
	r, err := s.room(c)
	if r == nil {
		return err
	}
	id := c.Params("id")
	if err := r.Kick(id, "a moderator removed you from the room"); err != nil {
		return sendAPIError(c, fiber.StatusNotFound, "no-participant", "no such participant in this room")
	}
	s.log.Info("admin: participant kicked", "room", r.Name(), "participant", id)
	return c.SendStatus(fiber.StatusNoContent)
}

// muteTrack mutes a track for everyone ({"muted": false} in the body
// unmutes it).
func (s *Server) muteTrack(c *fiber.Ctx) error {
	r, err := s.room(c)
	if r == nil {
		return err
	}
	// The body is JSON whatever the Content-Type says (curl -d sends it as
	// a form): an unreadable body must not be taken for "mute".
	body := struct {
		Muted *bool `json:"muted"`
	}{}
	if raw := strings.TrimSpace(string(c.Body())); raw != "" {
		if err := json.Unmarshal([]byte(raw), &body); err != nil || body.Muted == nil {
			return sendAPIError(c, fiber.StatusBadRequest, "bad-request", `the body must be empty or {"muted": true|false}`)
		}
	}
	muted := body.Muted == nil || *body.Muted
	trackID, err := url.PathUnescape(c.Params("track"))
	if err != nil {
		return sendAPIError(c, fiber.StatusBadRequest, "bad-request", "bad track id")
	}
	id := c.Params("id")
	switch err := r.ModeratorMute(id, trackID, muted); {
	case errors.Is(err, rooms.ErrNotMember):
		return sendAPIError(c, fiber.StatusNotFound, "no-participant", "no such participant in this room")
	case errors.Is(err, rooms.ErrNoTrack):
		return sendAPIError(c, fiber.StatusNotFound, "no-track", "the participant publishes no such track")
	case err != nil:
		return sendAPIError(c, fiber.StatusInternalServerError, "internal", "internal server error")
	}
	s.log.Info("admin: track muted", "room", r.Name(), "participant", id, "track", trackID, "muted", muted)
	return c.JSON(map[string]any{"muted": muted})
}
