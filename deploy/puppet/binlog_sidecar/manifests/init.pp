# @summary Installs the binlog sidecar, its replica inventory and
#   environment, and the server's replication my.cnf, which Puppet writes
#   only after `sidecar validate` accepted it.
#
# The incident's corrective action "validate the replication configuration
# in Puppet before it deploys": a my.cnf with server_id 0, the binlog off on
# a source, a semi-sync wait count above the semi-sync replicas in the
# inventory, a semi-sync timeout that never falls back... fails the run and
# the old file stays in place. `sidecar validate` exits 1 on an error
# finding and 2 when it cannot read the file; Puppet refuses both.
#
# @param binary_source  where Puppet copies the sidecar binary from
# @param binary_path    where it is installed (validate_cmd runs it)
# @param config_dir     holds `replicas` (the inventory) and `sidecar.env`
# @param replicas       expected replicas, `host[:port][ semisync]` each
# @param env            SIDECAR_* variables for the daemon (see deploy/env.example);
#   a value may be Sensitive
# @param mysql_password the sidecar's MySQL password (String or Sensitive):
#   written to `<config_dir>/mysql-password`, readable by the service user
#   alone, and passed as SIDECAR_MYSQL_PASSWORD_FILE; never in a diff or
#   a report
# @param unit_path      the systemd unit file
# @param mycnf_path     the replication option file; undef: not managed
# @param mycnf_content  its content (or use mycnf_source)
# @param mycnf_source   its source
# @param manage_service run the daemon as the systemd unit binlog-sidecar
# @param service_user   the account the daemon runs as
#
# @example
#   class { 'binlog_sidecar':
#     binary_source  => 'puppet:///modules/profile/sidecar',
#     replicas       => ['db-2.example.com semisync', 'db-3.example.com'],
#     env            => {'SIDECAR_CLUSTER' => 'prod', 'SIDECAR_NATS_URL' => 'nats://nats.example.com:4222'},
#     mysql_password => Sensitive(lookup('binlog_sidecar::mysql_password')),
#     mycnf_path     => '/etc/mysql/mariadb.conf.d/60-replication.cnf',
#     mycnf_content  => epp('profile/replication.cnf.epp'),
#   }
class binlog_sidecar (
  String                    $binary_source,
  Pattern[/\A\//]           $binary_path    = '/usr/local/bin/sidecar',
  Pattern[/\A\//]           $config_dir     = '/etc/sidecar',
  Array[String]             $replicas       = [],
  Hash[Pattern[/\ASIDECAR_[A-Z0-9_]+\z/], Variant[String, Integer, Boolean, Sensitive[String]]] $env = {},
  Optional[Variant[String, Sensitive[String]]] $mysql_password = undef,
  Optional[Pattern[/\A\//]] $mycnf_path     = undef,
  Optional[String]          $mycnf_content  = undef,
  Optional[String]          $mycnf_source   = undef,
  Boolean                   $manage_service = true,
  String                    $service_user   = 'binlog-sidecar',
  Pattern[/\A\//]           $unit_path      = '/etc/systemd/system/binlog-sidecar.service',
) {
  $inventory = "${config_dir}/replicas"

  file { $binary_path:
    ensure => file,
    source => $binary_source,
    mode   => '0755',
  }

  file { $config_dir:
    ensure => directory,
    mode   => '0755',
  }

  # The daemon re-reads the inventory when it changes: no restart needed.
  file { $inventory:
    ensure  => file,
    mode    => '0644',
    content => epp('binlog_sidecar/replicas.epp', { 'replicas' => $replicas }),
  }

  # Files that may carry secrets: Sensitive content, so Puppet redacts it
  # in its logs and reports, and show_diff => false, so `puppet agent
  # --test` never prints it as a diff. Readable by the service user only.
  $secret_group = $manage_service ? {
    true    => $service_user,
    default => undef,
  }
  $password_file = "${config_dir}/mysql-password"
  if $mysql_password =~ NotUndef {
    $password = $mysql_password ? {
      Sensitive => $mysql_password.unwrap,
      default   => $mysql_password,
    }
    file { $password_file:
      ensure    => file,
      mode      => '0640',
      group     => $secret_group,
      show_diff => false,
      content   => Sensitive("${password}\n"),
    }
    $password_env = { 'SIDECAR_MYSQL_PASSWORD_FILE' => $password_file }
  } else {
    $password_env = {}
  }

  $sidecar_env = { 'SIDECAR_EXPECTED_REPLICAS_FILE' => $inventory } + $password_env + $env
  file { "${config_dir}/sidecar.env":
    ensure    => file,
    mode      => '0640',
    group     => $secret_group,
    show_diff => false,
    content   => Sensitive(epp('binlog_sidecar/sidecar.env.epp', { 'env' => $sidecar_env })),
  }

  if $mycnf_path {
    # `%` is a temporary copy beside the target whose name no longer ends in
    # .cnf; `sidecar validate` does not care. The inventory is checked with
    # it (semi-sync wait count, a source listed as its own replica); an
    # empty one means "no inventory", as SIDECAR_EXPECTED_REPLICAS does.
    $validate_cmd = $replicas.empty ? {
      true    => "${binary_path} validate %",
      default => "${binary_path} validate --inventory ${inventory} %",
    }
    file { $mycnf_path:
      ensure       => file,
      mode         => '0644',
      content      => $mycnf_content,
      source       => $mycnf_source,
      validate_cmd => $validate_cmd,
      require      => [File[$binary_path], File[$inventory]],
    }
  }

  if $manage_service {
    user { $service_user:
      ensure => present,
      system => true,
      shell  => '/usr/sbin/nologin',
      before => File[$config_dir], # and so the files in it, group-owned by it
    }
    file { $unit_path:
      ensure  => file,
      mode    => '0644',
      content => epp('binlog_sidecar/binlog-sidecar.service.epp', {
        'binary_path' => $binary_path,
        'env_file'    => "${config_dir}/sidecar.env",
        'user'        => $service_user,
      }),
    }
    ~> exec { 'binlog-sidecar systemd reload':
      command     => '/bin/systemctl daemon-reload',
      refreshonly => true,
    }
    # Restarted when anything it runs with changes: the binary, its
    # environment, its password, and the unit itself (after systemd has
    # re-read it). The inventory is re-read live and needs no restart.
    $restart_on = [File[$binary_path], File["${config_dir}/sidecar.env"], File[$unit_path]] + ($mysql_password ? {
      undef   => [],
      default => [File[$password_file]],
    })
    service { 'binlog-sidecar':
      ensure    => running,
      enable    => true,
      subscribe => $restart_on,
      require   => [User[$service_user], Exec['binlog-sidecar systemd reload']],
    }
  }
}
