package dev.cairn.http;

import dev.cairn.metadata.RetentionRecords;
import dev.cairn.metrics.CacheMetrics;
import dev.cairn.registry.Registry;
import dev.cairn.retention.CacheKeeper;
import org.eclipse.jetty.http.UriCompliance;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.GracefulHandler;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.Executors;

/**
 * Jetty, set up for a registry: request handling on virtual threads (blocking code, no reactive
 * plumbing), raw paths handed to our own route parser, graceful stop that drains in-flight requests.
 */
public final class HttpServer implements AutoCloseable {
    private final Server server;
    private final ServerConnector connector;

    public HttpServer(Registry registry, CacheKeeper keeper, RetentionRecords records, CacheMetrics metrics,
                      String host, int port, boolean accessLog, Duration shutdownTimeout) {
        QueuedThreadPool threads = new QueuedThreadPool();
        threads.setName("cairn-http");
        threads.setVirtualThreadsExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server = new Server(threads);

        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        http.setSendDateHeader(true);
        // Our route parser validates the raw path itself (names with '..' or '%2f' are NAME_INVALID with
        // an OCI body), so Jetty must hand such paths over instead of answering a bare 400.
        http.setUriCompliance(UriCompliance.UNSAFE);
        http.setRequestHeaderSize(64 * 1024);

        // A plain-HTTP connector: a TLS ClientHello (clients probe TLS first with --tls-verify=false)
        // is not HTTP, so Jetty answers it 400 and closes that connection only.
        connector = new ServerConnector(server, new HttpConnectionFactory(http));
        connector.setHost(host == null || host.isEmpty() ? null : host);
        connector.setPort(port);
        connector.setIdleTimeout(Duration.ofMinutes(5).toMillis());
        server.addConnector(connector);

        server.setHandler(new GracefulHandler(new RegistryHandler(registry, new AdminResource(keeper, records, metrics))));
        server.setErrorHandler(new OciErrorPages());
        if (accessLog) server.setRequestLog(new AccessLog());
        server.setStopTimeout(shutdownTimeout.toMillis());
        server.setStopAtShutdown(false); // Cairn's own shutdown hook stops us, then the stores
    }

    public void start() throws Exception {
        server.start();
    }

    /** The port actually bound (useful when 0 was asked for). */
    public int port() {
        return connector.getLocalPort();
    }

    public InetSocketAddress address() {
        return new InetSocketAddress(connector.getHost() == null ? "0.0.0.0" : connector.getHost(), port());
    }

    @Override
    public void close() throws Exception {
        server.stop();
    }
}
