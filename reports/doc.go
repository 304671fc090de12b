// Package reports writes drill results (drills.Result) as JUnit XML, HTML,
// JSON and Markdown, and publishes a static history site. It reads only
// drills types.
package reports
