/** Who is signed in, shared by every page: the role decides what the navigation and pages offer. */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Me, Role } from './api';

export const SessionContext = createContext<Me | undefined>(undefined);

export function useMe(): Me {
  const me = useContext(SessionContext);
  if (!me) throw new Error('useMe outside a signed-in page');
  return me;
}

const order: Role[] = ['viewer', 'user', 'admin'];
export function can(me: Me, need: Role): boolean {
  return order.indexOf(me.role) >= order.indexOf(need);
}
