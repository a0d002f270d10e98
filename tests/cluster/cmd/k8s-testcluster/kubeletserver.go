package main

// The node's kubelet port. The apiserver reaches a node's kubelet over HTTPS for a
// pod's logs, exec and port-forward. Logs (and health) are the Python node agent's
// business, so they are proxied to it; exec and port-forward need the SPDY/WebSocket
// stream protocols, which Kubernetes' own server packages speak, so they are served
// here, running the command (or dialing the port) inside the pod's network namespace
// the agent describes at GET {agent}/podinfo/{namespace}/{pod}/{container}.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/creack/pty"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// podInfo is what the agent says about a running container.
type podInfo struct {
	UID   string            `json:"uid"`
	Netns string            `json:"netns"`
	PodIP string            `json:"podIP"`
	PID   int               `json:"pid"`
	Env   map[string]string `json:"env"`
	Dir   string            `json:"dir"`
}

type kubeletServer struct {
	agent  *url.URL
	client *http.Client
}

func (s *kubeletServer) info(ctx context.Context, ns, pod, container string) (*podInfo, int, error) {
	u := *s.agent
	u.Path = "/podinfo/" + url.PathEscape(ns) + "/" + url.PathEscape(pod) + "/" + url.PathEscape(container)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, http.StatusInternalServerError, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, http.StatusBadGateway, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode, errors.New(strings.TrimSpace(string(body)))
	}
	var info podInfo
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, http.StatusBadGateway, err
	}
	return &info, http.StatusOK, nil
}

// pathParts splits /kind/ns/pod[/uid]/container into its parts after kind.
func pathParts(path, kind string) []string {
	rest := strings.Trim(strings.TrimPrefix(path, "/"+kind), "/")
	if rest == "" {
		return nil
	}
	parts := strings.Split(rest, "/")
	for i, p := range parts {
		if unescaped, err := url.PathUnescape(p); err == nil {
			parts[i] = unescaped
		}
	}
	return parts
}

// executor runs a command in one container's sandbox.
type executor struct {
	info *podInfo
}

func (e executor) ExecInContainer(ctx context.Context, name string, uid string, container string,
	cmd []string, in io.Reader, out, errOut io.WriteCloser, tty bool,
	resize <-chan remotecommand.TerminalSize, timeout time.Duration) error {
	if len(cmd) == 0 {
		return errors.New("no command given")
	}
	// join the container's own namespaces (its mounts, hostname and network); without
	// a running process, at least its network namespace
	name, argv := "ip", append([]string{"netns", "exec", e.info.Netns}, cmd...)
	if e.info.PID > 0 {
		name = "nsenter"
		argv = append([]string{"--target", strconv.Itoa(e.info.PID), "--mount", "--uts", "--net", "--"}, cmd...)
	}
	c := exec.CommandContext(ctx, name, argv...)
	env := make([]string, 0, len(e.info.Env))
	for k, v := range e.info.Env {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	c.Env = env
	c.Dir = e.info.Dir
	var err error
	if tty {
		var f *os.File
		f, err = pty.Start(c)
		if err != nil {
			return err
		}
		defer f.Close()
		go func() {
			for size := range resize {
				_ = pty.Setsize(f, &pty.Winsize{Rows: size.Height, Cols: size.Width})
			}
		}()
		if in != nil {
			go func() { _, _ = io.Copy(f, in) }()
		}
		if out != nil {
			_, _ = io.Copy(out, f) // ends when the process closes the terminal
		}
		err = c.Wait()
	} else {
		c.Stdout, c.Stderr = out, errOut
		if in != nil {
			stdin, pipeErr := c.StdinPipe()
			if pipeErr != nil {
				return pipeErr
			}
			go func() {
				_, _ = io.Copy(stdin, in)
				_ = stdin.Close()
			}()
		}
		err = c.Run()
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return utilexec.CodeExitError{Err: err, Code: exitErr.ExitCode()}
	}
	return err
}

// forwarder connects a stream to a port of the pod's address.
type forwarder struct {
	info *podInfo
}

func (f forwarder) PortForward(ctx context.Context, name string, uid string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort(f.info.PodIP, strconv.Itoa(int(port))))
	if err != nil {
		return fmt.Errorf("pod %s: port %d: %w", name, port, err)
	}
	defer conn.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(conn, stream); done <- struct{}{} }()
	go func() { _, _ = io.Copy(stream, conn); done <- struct{}{} }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

func (s *kubeletServer) exec(w http.ResponseWriter, req *http.Request) {
	parts := pathParts(req.URL.Path, "exec")
	if len(parts) != 3 && len(parts) != 4 {
		http.Error(w, "expected /exec/{namespace}/{pod}/{container}", http.StatusBadRequest)
		return
	}
	ns, pod, container := parts[0], parts[1], parts[len(parts)-1]
	info, status, err := s.info(req.Context(), ns, pod, container)
	if err != nil {
		http.Error(w, err.Error(), status)
		return
	}
	opts, err := remotecommand.NewOptions(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	cmd := req.URL.Query()["command"]
	remotecommand.ServeExec(w, req, executor{info}, pod, info.UID, container, cmd, opts,
		4*time.Hour, remotecommand.DefaultStreamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

func (s *kubeletServer) portForward(w http.ResponseWriter, req *http.Request) {
	parts := pathParts(req.URL.Path, "portForward")
	if len(parts) != 2 && len(parts) != 3 {
		http.Error(w, "expected /portForward/{namespace}/{pod}", http.StatusBadRequest)
		return
	}
	ns, pod := parts[0], parts[1]
	info, status, err := s.info(req.Context(), ns, pod, "")
	if err != nil {
		http.Error(w, err.Error(), status)
		return
	}
	opts, err := portforward.NewV4Options(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	portforward.ServePortForward(w, req, forwarder{info}, pod, info.UID, opts,
		4*time.Hour, remotecommand.DefaultStreamCreationTimeout, portforward.SupportedProtocols)
}

func runKubeletServer(args []string) int {
	flags := flag.NewFlagSet("kubelet-server", flag.ContinueOnError)
	listen := flags.String("listen", "", "address:port to serve HTTPS on")
	cert := flags.String("tls-cert-file", "", "serving certificate")
	key := flags.String("tls-private-key-file", "", "serving key")
	agent := flags.String("agent", "http://127.0.0.1:10248", "the node agent's local HTTP address")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	agentURL, err := url.Parse(*agent)
	if err != nil || *listen == "" || *cert == "" || *key == "" {
		fmt.Fprintln(os.Stderr, "kubelet-server: --listen, --tls-cert-file, --tls-private-key-file and a valid --agent are required")
		return 2
	}
	s := &kubeletServer{agent: agentURL, client: &http.Client{Timeout: 10 * time.Second}}
	proxy := httputil.NewSingleHostReverseProxy(agentURL)
	proxy.FlushInterval = -1 // stream followed logs as they come
	mux := http.NewServeMux()
	mux.HandleFunc("/exec/", s.exec)
	mux.HandleFunc("/portForward/", s.portForward)
	mux.HandleFunc("/attach/", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "attach is not supported by the test cluster's node", http.StatusNotImplemented)
	})
	mux.Handle("/", proxy)
	server := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	fmt.Fprintf(os.Stderr, "kubelet-server: serving on %s, agent at %s\n", *listen, agentURL)
	if err := server.ListenAndServeTLS(*cert, *key); err != nil {
		fmt.Fprintf(os.Stderr, "kubelet-server: %v\n", err)
		return 1
	}
	return 0
}
