package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/confab/confab/internal/auth"
	"github.com/confab/confab/internal/config"
)

// runToken prints an access token signed with the first of auth.keys:
//
//	confab token -room R -name N -ttl 1h [-admin] [-publish=false] [-subscribe=false] [-config FILE]
func runToken(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("confab token", flag.ContinueOnError)
	flags.SetOutput(stderr)
	configPath := flags.String("config", "", "YAML config file (for auth.keys)")
	room := flags.String("room", "", `room the token admits to, or "*" for any (required)`)
	name := flags.String("name", "", "name the participant must join with (empty: any)")
	ttl := flags.Duration("ttl", time.Hour, "how long the token is valid")
	admin := flags.Bool("admin", false, "grant the admin API")
	publish := flags.Bool("publish", true, "allow publishing tracks")
	subscribe := flags.Bool("subscribe", true, "allow receiving tracks")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if *room == "" {
		fmt.Fprintln(stderr, "confab token: -room is required (a room name, or \"*\")")
		return 2
	}
	cfg, err := config.Load(*configPath, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "confab token: %v\n", err)
		return 2
	}
	if len(cfg.Auth.Keys) == 0 {
		fmt.Fprintln(stderr, "confab token: no auth.keys configured (set CONFAB_AUTH_KEYS or auth.keys)")
		return 2
	}
	tok, err := auth.Mint(cfg.Auth.Keys[0], auth.Claims{
		Room: *room, Name: *name, CanPublish: *publish, CanSubscribe: *subscribe, Admin: *admin,
	}, *ttl, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "confab token: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	return 0
}
