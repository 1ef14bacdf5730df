# puppet apply --modulepath deploy/puppet deploy/puppet/examples/site.pp
class { 'binlog_sidecar':
  binary_source  => '/usr/local/src/binlog-sidecar/bin/sidecar',
  replicas       => ['db-2.example.com semisync', 'db-3.example.com'],
  env            => {
    'SIDECAR_CLUSTER'  => 'prod',
    'SIDECAR_NATS_URL' => 'nats://nats.example.com:4222',
  },
  # In production from Hiera (eyaml): Sensitive(lookup('binlog_sidecar::mysql_password')).
  mysql_password => Sensitive('change-me'),
  mycnf_path     => '/etc/mysql/mariadb.conf.d/60-replication.cnf',
  mycnf_content  => @(CNF),
    [mariadb]
    server_id=1
    log_bin=db1-bin
    binlog_format=ROW
    report_host=db-1.example.com
    rpl_semi_sync_master_enabled=ON
    rpl_semi_sync_master_timeout=10000
    | CNF
}
