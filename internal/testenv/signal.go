package testenv

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// TearDownOnSignal makes an interrupted test binary (Ctrl-C, a cancelled
// CI job: SIGINT or SIGTERM) run teardown before it exits with code 1, so
// that it leaves no cluster, no fault and no lock behind; name prefixes
// its messages. A second signal exits at once.
//
// It returns finish, the same teardown for the normal path: TestMain calls
// it after m.Run. Teardown runs once whichever path comes first; a signal
// during the normal teardown waits for it and then exits.
func TearDownOnSignal(name string, teardown func() error) (finish func() error) {
	var (
		once sync.Once
		err  error
	)
	run := func() error {
		once.Do(func() { err = teardown() })
		return err
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "%s: %v: tearing down before exiting (a second signal exits at once)\n", name, sig)
		go func() {
			<-sigs
			fmt.Fprintf(os.Stderr, "%s: second signal: exiting without finishing the teardown\n", name)
			os.Exit(1)
		}()
		if err := run(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: teardown after the signal: %v\n", name, err)
		} else {
			fmt.Fprintf(os.Stderr, "%s: torn down after the signal\n", name)
		}
		os.Exit(1)
	}()
	return run
}
