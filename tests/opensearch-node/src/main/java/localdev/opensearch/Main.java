package localdev.opensearch;

import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;
import org.opensearch.ingest.common.IngestCommonPlugin;
import org.opensearch.ingest.geoip.IngestGeoIpPlugin;
import org.opensearch.ingest.useragent.IngestUserAgentPlugin;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.script.mustache.MustachePlugin;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Starts a single OpenSearch node in this JVM, bound to 127.0.0.1, without the security plugin.
 *
 * Usage: java -cp 'target/classes:target/lib/*' localdev.opensearch.Main HTTP_PORT HOME_DIR [TRANSPORT_PORT]
 */
public final class Main {

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: localdev.opensearch.Main HTTP_PORT HOME_DIR [TRANSPORT_PORT]");
            System.exit(2);
        }
        String httpPort = args[0];
        Path home = Path.of(args[1]).toAbsolutePath();
        String transportPort = args.length > 2 ? args[2] : "0";

        Path config = home.resolve("config");
        Files.createDirectories(config);
        try (InputStream in = Main.class.getResourceAsStream("/log4j2.properties")) {
            Files.copy(in, config.resolve("log4j2.properties"), StandardCopyOption.REPLACE_EXISTING);
        }

        // ingest-geoip needs GeoLite2-ASN/City/Country.mmdb in one folder. The test databases (system property
        // localdev.geoip.dir, a folder with GeoLite2-ASN-Test.mmdb and GeoLite2-City-Test.mmdb) are copied
        // under those names (City also as Country) into HOME/geoip, outside modules/.
        Path geoip = home.resolve("geoip");
        Files.createDirectories(geoip);
        String geoipSource = System.getProperty("localdev.geoip.dir");
        if (geoipSource != null && !geoipSource.isEmpty()) {
            Path src = Path.of(geoipSource);
            Files.copy(src.resolve("GeoLite2-ASN-Test.mmdb"), geoip.resolve("GeoLite2-ASN.mmdb"),
                StandardCopyOption.REPLACE_EXISTING);
            Files.copy(src.resolve("GeoLite2-City-Test.mmdb"), geoip.resolve("GeoLite2-City.mmdb"),
                StandardCopyOption.REPLACE_EXISTING);
            Files.copy(src.resolve("GeoLite2-City-Test.mmdb"), geoip.resolve("GeoLite2-Country.mmdb"),
                StandardCopyOption.REPLACE_EXISTING);
        }

        Settings settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("cluster.name", "cursor-audit-local")
            .put("node.name", "node-1")
            .put("network.host", "127.0.0.1")
            .put("http.port", httpPort)
            .put("transport.port", transportPort)
            .put("discovery.type", "single-node")
            // a nearly full disk must not block shard allocation / make indices read-only
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            // allow DELETE on wildcard patterns in tests
            .put("action.destructive_requires_name", false)
            .put("ingest.geoip.database_path", geoip.toString())
            .build();

        Environment env = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), config, () -> "node-1");
        LogConfigurator.setNodeName("node-1");
        LogConfigurator.configure(env);

        List<Class<? extends Plugin>> plugins = List.of(
            Netty4Plugin.class,
            GeoIpDatabasePathPlugin.class,
            IngestCommonPlugin.class,
            PainlessPlugin.class,
            IngestGeoIpPlugin.class,
            IngestUserAgentPlugin.class,
            MustachePlugin.class);
        Node node = new ClasspathNode(env, plugins);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(20, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "opensearch-shutdown"));
        node.start();
        System.out.println("opensearch-node: node started, http://127.0.0.1:" + httpPort);
        stopped.await();
    }
}
