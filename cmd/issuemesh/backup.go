package main

import (
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/node"
)

// backupCommands are `issuemesh backup DIR` and `issuemesh restore DIR`.
func backupCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name: "backup", Usage: "back up the node's home (sync log, tracker, identity, config) into a new folder", ArgsUsage: "DIR",
			Description: "Works while the node runs (an online snapshot through its admin API) and while it does not.\n" +
				"DIR must not exist or be empty. Restore with: issuemesh --home NEW restore DIR",
			Flags:  []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
			Action: cmdBackup,
		},
		{
			Name: "restore", Usage: "create a new home (--home) from a backup", ArgsUsage: "DIR",
			Description: "The home named by --home must not hold a node. When the restored node runs, it asks each\n" +
				"of its peers to send again the state of every issue they share, so that what happened after\n" +
				"the backup comes back, without duplicates. Stop the node the backup was taken from first:\n" +
				"two nodes with one identity must never run at once.",
			Flags:  []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
			Action: cmdRestore,
		},
	}
}

func cmdBackup(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("backup takes the folder to write, e.g. issuemesh backup /var/backups/issuemesh-2026-12-03")
	}
	dir, err := filepath.Abs(c.Args().First())
	if err != nil {
		return fmt.Errorf("backup folder %s: %w", c.Args().First(), err)
	}
	var info api.BackupInfo
	if err := call(c, "POST", "/v1/backup", api.BackupInput{Dir: dir}, &info); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, info)
	}
	how := "offline"
	if info.Online {
		how = "online, while the node runs"
	}
	fmt.Fprintf(c.App.Writer, "backup of node %s written to %s (%s): sync log %s, tracker %s, %d other files\n",
		info.PeerID, info.Dir, how, mib(info.SyncLogBytes), mib(info.TrackerBytes), len(info.Files))
	return nil
}

func cmdRestore(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("restore takes the backup folder, e.g. issuemesh --home /var/lib/issuemesh restore /var/backups/issuemesh-2026-12-03")
	}
	dir, err := filepath.Abs(c.Args().First())
	if err != nil {
		return fmt.Errorf("backup folder %s: %w", c.Args().First(), err)
	}
	info, err := node.Restore(home(c), dir, node.Options{Logger: logger(c.App.ErrWriter, "warn")})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, info)
	}
	fmt.Fprintf(c.App.Writer, "node %s restored into %s from the backup of %s\n", info.PeerID, home(c), info.Created.Local().Format("2006-01-02 15:04:05"))
	fmt.Fprintln(c.App.Writer, "start it with issuemesh run: it asks its peers to send again what it missed since")
	return nil
}
