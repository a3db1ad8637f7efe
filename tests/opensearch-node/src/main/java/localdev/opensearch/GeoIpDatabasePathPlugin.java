package localdev.opensearch;

import org.opensearch.common.settings.Setting;
import org.opensearch.plugins.Plugin;

import java.util.List;

/**
 * Registers the node setting {@code ingest.geoip.database_path}. ingest-geoip reads it to find its
 * databases, but only its own test framework registers it; without this plugin the node refuses the setting.
 */
public final class GeoIpDatabasePathPlugin extends Plugin {

    public static final Setting<String> DATABASE_PATH =
        Setting.simpleString("ingest.geoip.database_path", Setting.Property.NodeScope);

    @Override
    public List<Setting<?>> getSettings() {
        return List.of(DATABASE_PATH);
    }
}
