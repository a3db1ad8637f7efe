package localdev;

import org.elasticsearch.Build;
import org.elasticsearch.ExceptionsHelper;
import org.elasticsearch.action.datastreams.GetDataStreamAction.Response.DataStreamInfo;
import org.elasticsearch.action.datastreams.GetDataStreamAction.Response.IndexProperties;
import org.elasticsearch.action.datastreams.GetDataStreamAction.Response.ManagedBy;
import org.elasticsearch.client.internal.node.NodeClient;
import org.elasticsearch.cluster.ClusterState;
import org.elasticsearch.cluster.ClusterStateUpdateTask;
import org.elasticsearch.cluster.health.ClusterHealthStatus;
import org.elasticsearch.cluster.health.ClusterIndexHealth;
import org.elasticsearch.cluster.metadata.DataStream;
import org.elasticsearch.cluster.metadata.IndexMetadata;
import org.elasticsearch.cluster.metadata.IndexNameExpressionResolver;
import org.elasticsearch.cluster.metadata.MetadataDataStreamsService;
import org.elasticsearch.cluster.metadata.MetadataIndexTemplateService;
import org.elasticsearch.cluster.node.DiscoveryNodes;
import org.elasticsearch.cluster.routing.IndexRoutingTable;
import org.elasticsearch.cluster.service.ClusterService;
import org.elasticsearch.common.Strings;
import org.elasticsearch.common.bytes.BytesArray;
import org.elasticsearch.common.io.stream.NamedWriteableRegistry;
import org.elasticsearch.common.regex.Regex;
import org.elasticsearch.common.settings.ClusterSettings;
import org.elasticsearch.common.settings.IndexScopedSettings;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.settings.SettingsFilter;
import org.elasticsearch.features.NodeFeature;
import org.elasticsearch.index.Index;
import org.elasticsearch.index.IndexNotFoundException;
import org.elasticsearch.index.IndexSettings;
import org.elasticsearch.index.IndexVersion;
import org.elasticsearch.plugins.ActionPlugin;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.rest.BaseRestHandler;
import org.elasticsearch.rest.RestChannel;
import org.elasticsearch.rest.RestController;
import org.elasticsearch.rest.RestHandler;
import org.elasticsearch.rest.RestRequest;
import org.elasticsearch.rest.RestResponse;
import org.elasticsearch.rest.RestStatus;
import org.elasticsearch.xcontent.XContentBuilder;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Predicate;
import java.util.function.Supplier;

import static org.elasticsearch.rest.RestRequest.Method.DELETE;
import static org.elasticsearch.rest.RestRequest.Method.GET;
import static org.elasticsearch.rest.RestRequest.Method.HEAD;

/**
 * Small replacements for REST endpoints that a stock Elasticsearch 8 distribution provides through modules which
 * Elastic does not publish to Maven Central (rest-root, data-streams):
 * <ul>
 *   <li>{@code GET /} and {@code HEAD /} (version info, used by clients for product checks)</li>
 *   <li>{@code GET /_data_stream}, {@code GET /_data_stream/{name}} (same JSON as the real API)</li>
 *   <li>{@code DELETE /_data_stream/{name}} (removes the stream and its backing indices)</li>
 * </ul>
 * Everything else (index templates, data stream auto-creation on bulk, search, flattened fields, ...) is
 * implemented by the Elasticsearch server jar itself.
 */
public class CompatRestPlugin extends Plugin implements ActionPlugin {

    private volatile ClusterService clusterService;
    private volatile Settings settings;

    @Override
    public Collection<?> createComponents(PluginServices services) {
        this.clusterService = services.clusterService();
        this.settings = services.environment().settings();
        return List.of();
    }

    @Override
    public Collection<RestHandler> getRestHandlers(
        Settings settings,
        NamedWriteableRegistry namedWriteableRegistry,
        RestController restController,
        ClusterSettings clusterSettings,
        IndexScopedSettings indexScopedSettings,
        SettingsFilter settingsFilter,
        IndexNameExpressionResolver indexNameExpressionResolver,
        Supplier<DiscoveryNodes> nodesInCluster,
        Predicate<NodeFeature> clusterSupportsFeature
    ) {
        return List.of(new RootHandler(), new GetDataStreamsHandler(), new DeleteDataStreamsHandler());
    }

    private static void sendError(RestChannel channel, Exception e) {
        try {
            channel.sendResponse(new RestResponse(channel, e));
        } catch (Exception inner) {
            inner.addSuppressed(e);
            ExceptionsHelper.maybeDieOnAnotherThread(inner);
        }
    }

    /** Resolves comma separated names / wildcards against existing data streams; a missing concrete name is a 404. */
    private static List<DataStream> resolve(ClusterState state, String param) {
        String[] names = param == null || param.isEmpty() ? new String[] { "*" } : Strings.splitStringByCommaToArray(param);
        Map<String, DataStream> all = new TreeMap<>(state.metadata().dataStreams());
        Set<String> matched = new LinkedHashSet<>();
        for (String name : names) {
            if (name.equals("_all") || Regex.isSimpleMatchPattern(name)) {
                String pattern = name.equals("_all") ? "*" : name;
                for (String ds : all.keySet()) {
                    if (Regex.simpleMatch(pattern, ds) && (pattern.startsWith(".") || ds.startsWith(".") == false)) {
                        matched.add(ds);
                    }
                }
            } else if (all.containsKey(name)) {
                matched.add(name);
            } else {
                throw new IndexNotFoundException(name);
            }
        }
        List<DataStream> result = new ArrayList<>();
        for (String m : matched) {
            result.add(all.get(m));
        }
        return result;
    }

    private final class RootHandler extends BaseRestHandler {
        @Override
        public String getName() {
            return "local_main_action";
        }

        @Override
        public List<Route> routes() {
            return List.of(new Route(GET, "/"), new Route(HEAD, "/"));
        }

        @Override
        protected RestChannelConsumer prepareRequest(RestRequest request, NodeClient client) {
            return channel -> {
                if (request.method() == HEAD) {
                    channel.sendResponse(new RestResponse(RestStatus.OK, RestResponse.TEXT_CONTENT_TYPE, BytesArray.EMPTY));
                    return;
                }
                ClusterState state = clusterService.state();
                Build build = Build.current();
                XContentBuilder b = channel.newBuilder();
                b.startObject();
                b.field("name", clusterService.localNode().getName());
                b.field("cluster_name", state.getClusterName().value());
                b.field("cluster_uuid", state.metadata().clusterUUID());
                b.startObject("version");
                b.field("number", build.qualifiedVersion());
                b.field("build_flavor", build.flavor());
                b.field("build_type", build.type().displayName());
                b.field("build_hash", build.hash());
                b.field("build_date", build.date());
                b.field("build_snapshot", build.isSnapshot());
                b.field("lucene_version", IndexVersion.current().luceneVersion().toString());
                b.field("minimum_wire_compatibility_version", build.minWireCompatVersion());
                b.field("minimum_index_compatibility_version", build.minIndexCompatVersion());
                b.endObject();
                b.field("tagline", "You Know, for Search");
                b.endObject();
                channel.sendResponse(new RestResponse(RestStatus.OK, b));
            };
        }
    }

    private final class GetDataStreamsHandler extends BaseRestHandler {
        @Override
        public String getName() {
            return "local_get_data_streams_action";
        }

        @Override
        public List<Route> routes() {
            return List.of(new Route(GET, "/_data_stream"), new Route(GET, "/_data_stream/{name}"));
        }

        @Override
        protected RestChannelConsumer prepareRequest(RestRequest request, NodeClient client) {
            String name = request.param("name");
            request.param("expand_wildcards");
            request.paramAsBoolean("include_defaults", false);
            request.paramAsBoolean("verbose", false);
            return channel -> {
                try {
                    ClusterState state = clusterService.state();
                    List<DataStreamInfo> infos = new ArrayList<>();
                    for (DataStream ds : resolve(state, name)) {
                        ClusterHealthStatus status = ClusterHealthStatus.GREEN;
                        Map<Index, IndexProperties> props = new HashMap<>();
                        String indexMode = null;
                        for (Index index : ds.getIndices()) {
                            IndexMetadata im = state.metadata().index(index);
                            IndexRoutingTable rt = state.routingTable().index(index);
                            if (im != null && rt != null) {
                                ClusterHealthStatus s = new ClusterIndexHealth(im, rt).getStatus();
                                if (s.value() > status.value()) {
                                    status = s;
                                }
                            } else {
                                status = ClusterHealthStatus.RED;
                            }
                            String mode = im == null ? null : IndexSettings.MODE.get(im.getSettings()).getName();
                            indexMode = mode;
                            props.put(index, new IndexProperties(false, null, ManagedBy.UNMANAGED, mode));
                        }
                        String template = MetadataIndexTemplateService.findV2Template(state.metadata(), ds.getName(), ds.isHidden());
                        infos.add(new DataStreamInfo(ds, false, status, template, null, null, props, false, null, indexMode));
                    }
                    XContentBuilder b = channel.newBuilder();
                    b.startObject();
                    b.startArray("data_streams");
                    for (DataStreamInfo info : infos) {
                        info.toXContent(b, request);
                    }
                    b.endArray();
                    b.endObject();
                    channel.sendResponse(new RestResponse(RestStatus.OK, b));
                } catch (Exception e) {
                    sendError(channel, e);
                }
            };
        }
    }

    private final class DeleteDataStreamsHandler extends BaseRestHandler {
        @Override
        public String getName() {
            return "local_delete_data_stream_action";
        }

        @Override
        public List<Route> routes() {
            return List.of(new Route(DELETE, "/_data_stream/{name}"));
        }

        @Override
        protected RestChannelConsumer prepareRequest(RestRequest request, NodeClient client) {
            String name = request.param("name");
            request.param("expand_wildcards");
            request.param("master_timeout");
            return channel -> {
                try {
                    resolve(clusterService.state(), name); // fail fast with 404 on unknown concrete names
                } catch (Exception e) {
                    sendError(channel, e);
                    return;
                }
                clusterService.submitUnbatchedStateUpdateTask("local-delete-data-stream [" + name + "]", new ClusterStateUpdateTask() {
                    @Override
                    public ClusterState execute(ClusterState currentState) {
                        Set<DataStream> toDelete = new LinkedHashSet<>(resolve(currentState, name));
                        if (toDelete.isEmpty()) {
                            return currentState;
                        }
                        return MetadataDataStreamsService.deleteDataStreams(currentState, toDelete, settings);
                    }

                    @Override
                    public void onFailure(Exception e) {
                        sendError(channel, e);
                    }

                    @Override
                    public void clusterStateProcessed(ClusterState initialState, ClusterState newState) {
                        try {
                            XContentBuilder b = channel.newBuilder();
                            b.startObject().field("acknowledged", true).endObject();
                            channel.sendResponse(new RestResponse(RestStatus.OK, b));
                        } catch (IOException e) {
                            sendError(channel, e);
                        }
                    }
                });
            };
        }
    }
}
