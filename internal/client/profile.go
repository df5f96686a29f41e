package client

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ProfileFiles returns the shared credentials and config file paths the AWS CLI uses:
// $AWS_SHARED_CREDENTIALS_FILE and $AWS_CONFIG_FILE (a leading ~ is the home folder),
// else ~/.aws/credentials and ~/.aws/config.
func ProfileFiles(getenv func(string) string, home string) (credentials, config string) {
	path := func(env, def string) string {
		p := strings.TrimSpace(getenv(env))
		if p == "" {
			return filepath.Join(home, ".aws", def)
		}
		if p == "~" || strings.HasPrefix(p, "~/") {
			return filepath.Join(home, p[1:])
		}
		return p
	}
	return path("AWS_SHARED_CREDENTIALS_FILE", "credentials"), path("AWS_CONFIG_FILE", "config")
}

// CheckProfileName rejects names the files cannot hold.
func CheckProfileName(name string) error {
	if name == "" || strings.TrimSpace(name) != name || strings.ContainsAny(name, "[]\r\n") {
		return fmt.Errorf("--profile %q: a profile name is a non-empty word without brackets, line breaks or surrounding spaces", name)
	}
	return nil
}

// WriteProfile stores c as profile name the way `aws configure set` does: the three
// credential keys in [name] of the credentials file; region (and endpoint_url when
// keyless endpoints are known, see EndpointVars) in [default] or [profile name] of the
// config file. Other profiles, keys and comments stay as they were.
func WriteProfile(name string, c Credentials, cfg Config, credentialsPath, configPath string) error {
	if err := CheckProfileName(name); err != nil {
		return err
	}
	err := UpdateFile(credentialsPath, name, []Var{
		{"aws_access_key_id", c.AccessKeyID},
		{"aws_secret_access_key", c.SecretAccessKey},
		{"aws_session_token", c.SessionToken},
	})
	if err != nil {
		return err
	}
	section := "profile " + name
	if name == "default" {
		section = "default"
	}
	values := []Var{{"region", cfg.Region}}
	for _, v := range EndpointVars(cfg) {
		if v.Name == "AWS_ENDPOINT_URL" {
			values = append(values, Var{"endpoint_url", v.Value})
		}
	}
	return UpdateFile(configPath, section, values)
}

// UpdateFile sets values in section of the INI file at path (see SetValues). A missing
// file is created with its folder (0700). The file is replaced atomically (a temporary
// file in the same folder, synced, renamed; a symlink's target is replaced) and ends up
// with mode 0600 whatever it had, since it holds secrets.
func UpdateFile(path, section string, values []Var) error {
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".keyless-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if err := writeSynced(tmp, SetValues(old, section, values)); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	return nil
}

func writeSynced(f *os.File, b []byte) error {
	_, err := f.Write(b)
	err = errors.Join(err, f.Chmod(0o600), f.Sync())
	return errors.Join(err, f.Close())
}

// SetValues returns content with values set in section, editing like the AWS CLI's
// ConfigFileWriter: an existing `key = value` line of the section is rewritten in place;
// missing keys go after the section's last option line; a missing section is appended.
// Comments, blank lines, other sections and indented sub-options are kept byte for byte.
// Unlike the AWS CLI, an indented sub-option (under `s3 =`) never matches a top-level key.
func SetValues(content []byte, section string, values []Var) []byte {
	lines := splitLines(string(content))
	start := findSection(lines, section)
	if start < 0 {
		var b strings.Builder
		b.WriteString(string(content))
		if len(content) > 0 && !strings.HasSuffix(string(content), "\n") {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "[%s]\n", section)
		writeValues(&b, values, nil)
		return []byte(b.String())
	}
	done := map[string]bool{}
	last := start
	for j := start + 1; j < len(lines) && sectionHeader(lines[j]) == ""; j++ {
		key, indented, ok := optionKey(lines[j])
		if !ok {
			continue
		}
		last = j
		if indented || done[key] {
			continue
		}
		for _, v := range values {
			if v.Name == key {
				lines[j] = fmt.Sprintf("%s = %s%s", key, v.Value, lineEnd(lines[j]))
				done[key] = true
			}
		}
	}
	var add strings.Builder
	writeValues(&add, values, done)
	if add.Len() > 0 {
		if !strings.HasSuffix(lines[last], "\n") {
			lines[last] += "\n"
		}
		lines = append(lines[:last+1], append([]string{add.String()}, lines[last+1:]...)...)
	}
	return []byte(strings.Join(lines, ""))
}

func writeValues(b *strings.Builder, values []Var, skip map[string]bool) {
	for _, v := range values {
		if !skip[v.Name] {
			fmt.Fprintf(b, "%s = %s\n", v.Name, v.Value)
		}
	}
}

// splitLines splits s after each "\n", keeping the endings.
func splitLines(s string) []string {
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

func lineEnd(l string) string {
	switch {
	case strings.HasSuffix(l, "\r\n"):
		return "\r\n"
	case strings.HasSuffix(l, "\n"):
		return "\n"
	}
	return ""
}

// findSection returns the index of section's header line, or -1. "profile a b" also
// matches the quoted header [profile "a b"], as in the AWS CLI.
func findSection(lines []string, section string) int {
	quoted := ""
	if kind, name, ok := strings.Cut(section, " "); ok {
		quoted = fmt.Sprintf("%s %q", kind, name)
	}
	for i, l := range lines {
		if h := sectionHeader(l); h != "" && (h == section || h == quoted) {
			return i
		}
	}
	return -1
}

// sectionHeader returns NAME for a line "[NAME]...", "" for any other line.
func sectionHeader(line string) string {
	t := strings.TrimSpace(line)
	if !strings.HasPrefix(t, "[") {
		return ""
	}
	name, _, ok := strings.Cut(t[1:], "]")
	if !ok {
		return ""
	}
	return name
}

// optionKey returns the key of a "key = value" (or "key: value") line and whether the
// line is indented (a sub-option); ok is false for blank lines and comments.
func optionKey(line string) (key string, indented, ok bool) {
	t := strings.TrimSpace(line)
	if t == "" || t[0] == '#' || t[0] == ';' {
		return "", false, false
	}
	i := strings.IndexAny(line, "=:")
	if i < 0 {
		return "", false, false
	}
	key = strings.TrimSpace(line[:i])
	return key, line[0] == ' ' || line[0] == '\t', key != ""
}
