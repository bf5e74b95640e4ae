/** Dark and light follow the system (prefers-color-scheme); charts redraw when it changes. */
import { useEffect, useState } from 'preact/hooks';

export type Theme = 'light' | 'dark';
const query = () => window.matchMedia('(prefers-color-scheme: dark)');

export function currentTheme(): Theme {
  return query().matches ? 'dark' : 'light';
}

export function useTheme(): Theme {
  const [theme, setTheme] = useState(currentTheme);
  useEffect(() => {
    const mq = query();
    const fn = () => setTheme(currentTheme());
    mq.addEventListener('change', fn);
    return () => mq.removeEventListener('change', fn);
  }, []);
  return theme;
}
