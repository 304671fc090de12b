// Command hello is a test fixture for clusters/images: it prints its
// arguments and the GREETING environment variable.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("hello", os.Getenv("GREETING"), os.Args[1:])
}
