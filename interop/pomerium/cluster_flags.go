package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"strings"

	"github.com/volatiletech/null/v9"

	"github.com/pomerium/pomerium/config"
)

// clusterFlags are the clustered databroker's settings, named after Pomerium's config keys:
// -cluster-node-id (databroker_cluster_node_id), -cluster-nodes (databroker_cluster_nodes, as
// JSON: [{"id":"a","grpc_address":"http://127.0.0.1:1","raft_address":"127.0.0.1:2"}, …]),
// -raft-bind-address (databroker_raft_bind_address) and -cluster-leader-id
// (databroker_cluster_leader_id, which pins the leader: no election, no failover).
type clusterFlags struct {
	nodeID          string
	nodesJSON       string
	raftBindAddress string
	leaderID        string
}

type clusterNodeFlag struct {
	ID          string `json:"id"`
	GRPCAddress string `json:"grpc_address"`
	RaftAddress string `json:"raft_address"`
}

func (c *clusterFlags) register() {
	flag.StringVar(&c.nodeID, "cluster-node-id", "", "databroker_cluster_node_id: this node's id in -cluster-nodes")
	flag.StringVar(&c.nodesJSON, "cluster-nodes", "", `databroker_cluster_nodes as JSON: [{"id":"a","grpc_address":"http://127.0.0.1:1","raft_address":"127.0.0.1:2"}]`)
	flag.StringVar(&c.raftBindAddress, "raft-bind-address", "", "databroker_raft_bind_address: where this node's Raft (TLS, key derived from the shared secret) listens")
	flag.StringVar(&c.leaderID, "cluster-leader-id", "", "databroker_cluster_leader_id: pins the leader (no Raft election)")
}

func (c *clusterFlags) enabled() bool { return c.nodeID != "" }

// apply copies the flags into Pomerium's options; Pomerium validates them afterwards.
func (c *clusterFlags) apply(o *config.DataBrokerOptions) error {
	if !c.enabled() {
		if c.nodesJSON != "" || c.raftBindAddress != "" || c.leaderID != "" {
			return fmt.Errorf("cluster flags given without -cluster-node-id")
		}
		return nil
	}
	var nodes []clusterNodeFlag
	dec := json.NewDecoder(strings.NewReader(c.nodesJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&nodes); err != nil {
		return fmt.Errorf("bad -cluster-nodes: %w", err)
	}
	if len(nodes) == 0 {
		return fmt.Errorf("-cluster-nodes is required with -cluster-node-id")
	}
	o.ClusterNodeID = null.StringFrom(c.nodeID)
	for _, n := range nodes {
		node := config.DataBrokerClusterNode{ID: n.ID, GRPCAddress: n.GRPCAddress}
		if n.RaftAddress != "" {
			node.RaftAddress = null.StringFrom(n.RaftAddress)
		}
		o.ClusterNodes = append(o.ClusterNodes, node)
	}
	if c.raftBindAddress != "" {
		o.RaftBindAddress = null.StringFrom(c.raftBindAddress)
	}
	if c.leaderID != "" {
		o.ClusterLeaderID = null.StringFrom(c.leaderID)
	}
	return nil
}

// checkRaftBindAddress fails when the Raft bind address cannot be listened on now (taken by
// another process, say). Pomerium only logs a Raft listener that fails to bind and runs on
// without one, so such a node never joins its cluster and its readiness check waits out its
// minute; failing at once lets the caller retry on other ports.
func (c *clusterFlags) checkRaftBindAddress() error {
	if c.raftBindAddress == "" {
		return nil
	}
	l, err := net.Listen("tcp", c.raftBindAddress)
	if err != nil {
		return fmt.Errorf("-raft-bind-address: %w", err)
	}
	return l.Close()
}

// readyFields are the READY line's cluster fields (none outside a cluster).
func (c *clusterFlags) readyFields() string {
	if !c.enabled() {
		return ""
	}
	return " node_id=" + c.nodeID
}
